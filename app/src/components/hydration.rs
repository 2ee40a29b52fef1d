use leptos::prelude::*;

/// `false` while rendering on the server and hydrating, `true` once the page is in the browser:
/// for what only the browser shows (the logged-in user's name on a page everyone shares).
pub fn use_mounted() -> ReadSignal<bool> {
    let (mounted, set_mounted) = signal(false);
    Effect::new(move |_| set_mounted.set(true));
    mounted
}
