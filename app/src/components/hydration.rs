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

/// `false` while rendering on the server and hydrating, `true` once the page is in the browser:
/// for what only the browser shows (the logged-in user's name on a page everyone shares).
pub fn use_mounted() -> ReadSignal<bool> {
    let (mounted, set_mounted) = signal(false);
    Effect::new(move |_| set_mounted.set(true));
    mounted
}
