use leptos::prelude::*;

/// Marks `<body data-hydrated="true">` once the Wasm app has taken over, so tests (and curious
/// people) can tell a hydrated page from server-rendered HTML.
#[component]
pub fn HydrationMark() -> impl IntoView {
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}
