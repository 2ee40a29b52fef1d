use super::auth_state::use_auth;
use super::hydration::use_mounted;
use crate::api::Logout;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

#[component]
pub fn Header() -> impl IntoView {
    let auth = use_auth();
    // Asked by the browser only: the page's HTML is the same for everyone.
    let mounted = use_mounted();
    view! {
        <header class="topbar">
            <a class="skip-link" href="#main">"Skip to content"</a>
            <nav class="topbar-inner" aria-label="Main">
                <A href="/" attr:class="brand">"⚡ Flash Sale"</A>
                <div class="topbar-user">
                    <Show when=move || mounted.get()>
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            match auth.user.await {
                                Ok(Some(user)) => {
                                    let admin = user.role == crate::model::Role::Admin;
                                    view! {
                                        {admin.then(|| view! { <A href="/admin">"Admin"</A> })}
                                        <A href="/orders">"My orders"</A>
                                        <span class="user-name" data-testid="user-name">
                                            {user.name}
                                        </span>
                                        <LogoutButton />
                                    }
                                        .into_any()
                                }
                                _ => {
                                    view! {
                                        <A href="/login">"Log in"</A>
                                        <A href="/register" attr:class="button button-small">
                                            "Register"
                                        </A>
                                    }
                                        .into_any()
                                }
                            }
                        })}
                    </Transition>
                    </Show>
                </div>
            </nav>
        </header>
    }
}

#[component]
fn LogoutButton() -> impl IntoView {
    let auth = use_auth();
    let logout = ServerAction::<Logout>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = logout.value().get() {
            auth.refresh();
            navigate("/", Default::default());
        }
    });
    view! {
        <ActionForm action=logout attr:class="inline-form">
            <button type="submit" class="link-button">"Log out"</button>
        </ActionForm>
    }
}
