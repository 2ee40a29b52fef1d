//! Admin pages under `/admin`. The server checks the role on every server function; the pages
//! also answer 403 to shoppers and send visitors to the login.

pub mod blacklist;
pub mod dashboard;
pub mod orders;
pub mod products;

use crate::components::auth_state::{login_href, rendered_user};
use crate::model::Role;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Redirect, A};
use leptos_router::hooks::use_location;

/// Renders `children` for admins only: a login redirect for visitors, 403 for shoppers.
#[component]
pub fn AdminShell(title: &'static str, children: ChildrenFn) -> impl IntoView {
    let user = rendered_user();
    let path = use_location().pathname;
    let children = StoredValue::new(children);
    view! {
        <Title text=title />
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match user.await {
                    Ok(Some(u)) if u.role == Role::Admin => {
                        view! {
                            <nav class="admin-nav" aria-label="Admin">
                                <A href="/admin">"Products"</A>
                                <A href="/admin/orders">"Orders"</A>
                                <A href="/admin/blacklist">"Blacklist"</A>
                            </nav>
                            {children.read_value()()}
                        }
                            .into_any()
                    }
                    Ok(Some(_)) => view! { <Forbidden /> }.into_any(),
                    _ => view! { <Redirect path=login_href(&path.get_untracked()) /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Forbidden() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(http::StatusCode::FORBIDDEN);
    }
    view! {
        <section class="panel access-denied" data-testid="admin-denied">
            <h1>"Access denied"</h1>
            <p>"This part of the shop is for administrators."</p>
            <p>
                <a href="/">"Back to the sales"</a>
            </p>
        </section>
    }
}

/// A field's own error message from a refused form, if any.
pub fn field_error(error: Option<crate::model::ApiError>, field: &'static str) -> Option<String> {
    error.and_then(|e| {
        e.fields
            .into_iter()
            .find(|f| f.field == field)
            .map(|f| f.message)
    })
}

/// Loads the page again once `action` has succeeded: the list below is the server's.
pub fn reload_on_success<A>(action: ServerAction<A>)
where
    A: leptos::server_fn::ServerFn + Clone + Send + Sync + 'static,
    A::Output: Send + Sync + 'static,
    A::Error: Send + Sync + 'static,
{
    Effect::new(move |_| {
        if action.value().with(|v| matches!(v, Some(Ok(_)))) {
            let _ = window().location().reload();
        }
    });
}
