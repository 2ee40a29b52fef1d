use crate::api::{Login, Register};
use crate::model::{ApiError, User};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// Where to go after logging in: a local path from `?next=`, or home (read by the server).
fn next_path() -> String {
    use_query_map()
        .read_untracked()
        .get("next")
        .filter(|n| n.starts_with('/') && !n.starts_with("//"))
        .unwrap_or_else(|| "/".to_string())
}

/// Once logged in, the next page is loaded anew: it asks who is logged in by itself.
fn after_login<A>(action: ServerAction<A>, next: String)
where
    A: leptos::server_fn::ServerFn<Output = User, Error = ApiError> + Clone + Send + Sync + 'static,
    A::Output: Send + Sync,
{
    Effect::new(move |_| {
        if let Some(Ok(_)) = action.value().get() {
            let _ = window().location().set_href(&next);
        }
    });
}

fn error_view<A>(action: ServerAction<A>) -> impl IntoView
where
    A: leptos::server_fn::ServerFn<Output = User, Error = ApiError> + Clone + Send + Sync + 'static,
{
    move || match action.value().get() {
        Some(Err(e)) => Some(view! {
            <p class="alert alert-error" role="alert" data-testid="form-error" data-code=e.error.as_str()>
                {e.message}
            </p>
        }),
        _ => None,
    }
}

#[component]
pub fn LoginPage() -> impl IntoView {
    view! {
        <Title text="Log in" />
        <section class="panel form-panel">
            <h1>"Log in"</h1>
            <LoginForm next=next_path() />
            <p class="muted">"New here? " <a href="/register">"Create an account"</a></p>
        </section>
    }
}

#[island(lazy)]
fn LoginForm(next: String) -> impl IntoView {
    let action = ServerAction::<Login>::new();
    after_login(action, next);
    view! {
        <ActionForm action=action attr:class="stack">
            <CredentialFields autocomplete="current-password" />
            {error_view(action)}
            <button type="submit" class="button" disabled=move || action.pending().get()>
                "Log in"
            </button>
        </ActionForm>
    }
}

#[component]
pub fn RegisterPage() -> impl IntoView {
    view! {
        <Title text="Register" />
        <section class="panel form-panel">
            <h1>"Create an account"</h1>
            <RegisterForm next=next_path() />
            <p class="muted">"Have an account? " <a href="/login">"Log in"</a></p>
        </section>
    }
}

#[island(lazy)]
fn RegisterForm(next: String) -> impl IntoView {
    let action = ServerAction::<Register>::new();
    after_login(action, next);
    view! {
        <ActionForm action=action attr:class="stack">
            <CredentialFields autocomplete="new-password" />
            <p class="muted small">
                "Name: 3–32 letters, digits, '_', '-' or '.'. Password: at least 8 characters."
            </p>
            {error_view(action)}
            <button type="submit" class="button" disabled=move || action.pending().get()>
                "Register"
            </button>
        </ActionForm>
    }
}

#[component]
fn CredentialFields(autocomplete: &'static str) -> impl IntoView {
    view! {
        <label for="name">"Name"</label>
        <input id="name" name="name" autocomplete="username" required maxlength="32" />
        <label for="password">"Password"</label>
        <input
            id="password"
            name="password"
            type="password"
            autocomplete=autocomplete
            required
            maxlength="128"
        />
    }
}
