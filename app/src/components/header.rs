use super::auth_state::use_user;
use super::hydration::use_mounted;
use crate::api::Logout;
use leptos::prelude::*;

#[component]
pub fn Header() -> impl IntoView {
    view! {
        <header class="topbar">
            <a class="skip-link" href="#main">"Skip to content"</a>
            <nav class="topbar-inner" aria-label="Main">
                <a href="/" class="brand">"⚡ Flash Sale"</a>
                <div class="topbar-user">
                    <UserMenu />
                </div>
            </nav>
        </header>
    }
}

/// The user's links and name, or "Log in" and "Register": asked by the browser only, so that the
/// page's HTML is the same for everyone.
#[island]
fn UserMenu() -> impl IntoView {
    let user = use_user();
    let mounted = use_mounted();
    view! {
        <Show when=move || mounted.get()>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match user.await {
                        Ok(Some(user)) => {
                            let admin = user.role == crate::model::Role::Admin;
                            view! {
                                {admin.then(|| view! { <a href="/admin">"Admin"</a> })}
                                <a href="/orders">"My orders"</a>
                                <span class="user-name" data-testid="user-name">
                                    {user.name}
                                </span>
                                <LogoutButton />
                            }
                                .into_any()
                        }
                        _ => {
                            view! {
                                <a href="/login">"Log in"</a>
                                <a href="/register" class="button button-small">
                                    "Register"
                                </a>
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
        </Show>
    }
}

#[component]
fn LogoutButton() -> impl IntoView {
    let logout = ServerAction::<Logout>::new();
    Effect::new(move |_| {
        if let Some(Ok(())) = logout.value().get() {
            let _ = window().location().set_href("/");
        }
    });
    view! {
        <ActionForm action=logout attr:class="inline-form">
            <button type="submit" class="link-button">"Log out"</button>
        </ActionForm>
    }
}
