//! A ticking clock for countdowns. It starts at the server's time so that the server and the
//! browser render the same first frame; only after hydration does it follow the browser's clock
//! (corrected by the offset to the server's).

use leptos::prelude::*;

/// Milliseconds, starting at `start` and ticking every `every_ms` in the browser.
pub fn use_ticking_clock(start: i64, every_ms: u32) -> ReadSignal<i64> {
    let (now, set_now) = signal(start);
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        {
            let offset = start as f64 - js_sys::Date::now();
            leptos::task::spawn_local(async move {
                loop {
                    gloo_timers::future::TimeoutFuture::new(every_ms).await;
                    // `try_set` hands the value back once the owning view is gone: stop then.
                    if set_now
                        .try_set((js_sys::Date::now() + offset) as i64)
                        .is_some()
                    {
                        break;
                    }
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (set_now, every_ms);
    });
    now
}

/// The browser's clock in milliseconds (0 on the server, where it is never rendered from).
pub fn browser_now() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0
    }
}

/// Fetches every `every_ms` in the browser and stores each answer in `target`, until the view
/// owning `target` is gone (failed fetches are skipped).
pub fn poll_into<T, E, F, Fut>(target: RwSignal<T>, every_ms: u32, fetch: F)
where
    T: Send + Sync + 'static,
    F: Fn() -> Fut + 'static,
    Fut: std::future::Future<Output = Result<T, E>> + 'static,
{
    let mut fetch = Some(fetch);
    Effect::new(move |_| {
        let Some(fetch) = fetch.take() else { return };
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            loop {
                gloo_timers::future::TimeoutFuture::new(every_ms).await;
                let alive = match fetch().await {
                    Ok(v) => target.try_set(v).is_none(),
                    Err(_) => !target.is_disposed(),
                };
                if !alive {
                    break;
                }
            }
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = (fetch, every_ms, target);
    });
}
