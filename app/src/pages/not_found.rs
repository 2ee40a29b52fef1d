use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found" />
        <section class="panel">
            <h1>"Page not found"</h1>
            <p>
                "There is nothing here. " <a href="/">"See the sales"</a>
            </p>
        </section>
    }
}

/// An error from a server function, shown in place of the content it was meant to fill.
#[component]
pub fn ErrorPanel(error: crate::model::ApiError) -> impl IntoView {
    view! {
        <section class="panel">
            <p class="alert alert-error" role="alert" data-code=error.error.as_str()>
                {error.message}
            </p>
        </section>
    }
}
