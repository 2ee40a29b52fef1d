//! What an open product page knows of its product, kept current: pushed by the live stream
//! (Server-Sent Events) while the browser can hold it, else polled with backoff; the page says
//! which. The server's clock comes with every piece of news, so a page served from a cache still
//! counts down to the right second.

use crate::model::{phase_at, LiveOrder, LiveStock, SalePhase};
use leptos::prelude::*;

/// How the page hears of its product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// As rendered: the browser has not opened the stream yet.
    Connecting,
    Live,
    /// The stream dropped; the browser is opening it again.
    Reconnecting,
    /// No stream could be held: asking every `n` seconds.
    Polling(u32),
}

impl Link {
    pub fn as_str(self) -> &'static str {
        match self {
            Link::Connecting => "connecting",
            Link::Live => "live",
            Link::Reconnecting => "reconnecting",
            Link::Polling(_) => "polling",
        }
    }
}

#[derive(Clone, Copy)]
pub struct LiveProduct {
    pub stock: RwSignal<LiveStock>,
    /// The shopper's own order, once the stream says it is stored.
    pub order: RwSignal<Option<LiveOrder>>,
    pub link: RwSignal<Link>,
    /// The server's clock, ticking in the browser (the rendered time until then).
    pub now: RwSignal<i64>,
}

impl LiveProduct {
    pub fn phase(&self) -> SalePhase {
        let s = self.stock.get();
        phase_at(s.sale_start, s.sale_end, self.now.get())
    }

    #[cfg(feature = "hydrate")]
    fn hear(&self, news: LiveStock, offset: &std::cell::Cell<f64>) {
        offset.set(news.server_time as f64 - js_sys::Date::now());
        self.stock.try_set(news);
    }
}

/// Starts listening once the page is in the browser; stops when the page goes away.
pub fn use_live_product(rendered: LiveStock) -> LiveProduct {
    let live = LiveProduct {
        stock: RwSignal::new(rendered),
        order: RwSignal::new(None),
        link: RwSignal::new(Link::Connecting),
        now: RwSignal::new(rendered.server_time),
    };
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(browser::run(live));
    });
    live
}

/// "Live", "Reconnecting…" or "Not live", for the page.
#[component]
pub fn LiveBadge(live: LiveProduct) -> impl IntoView {
    let text = move || match live.link.get() {
        Link::Connecting => "Connecting…".to_string(),
        Link::Live => "Live".to_string(),
        Link::Reconnecting => "Reconnecting…".to_string(),
        Link::Polling(n) => format!("Not live: updated every {n} s"),
    };
    view! {
        <p
            class=move || format!("live-badge live-{}", live.link.get().as_str())
            data-testid="live-state"
            data-state=move || live.link.get().as_str()
            role="status"
        >
            {text}
        </p>
    }
}

#[cfg(feature = "hydrate")]
mod browser {
    use super::{Link, LiveProduct};
    use crate::model::{LiveOrder, LiveStock};
    use futures::channel::mpsc;
    use futures::StreamExt;
    use gloo_timers::future::TimeoutFuture;
    use leptos::prelude::*;
    use std::cell::Cell;
    use std::rc::Rc;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    use web_sys::{Event, EventSource, MessageEvent};

    const FIRST_POLL_MS: u32 = 2_000;
    const MAX_POLL_MS: u32 = 30_000;
    /// An open stream that says nothing for this long (its heartbeat is 30 s) is dead.
    const SILENCE_MS: f64 = 45_000.0;
    /// While polling, the stream is tried again this often.
    const RETRY_STREAM_MS: f64 = 30_000.0;
    /// Errors in a row (the browser reconnects by itself in between) before polling instead.
    const ERRORS_BEFORE_POLLING: u32 = 3;

    enum Heard {
        Open,
        Stock(LiveStock),
        Order(LiveOrder),
        Error { closed: bool },
    }

    fn gone(live: &LiveProduct) -> bool {
        live.stock.is_disposed()
    }

    pub async fn run(live: LiveProduct) {
        let offset = Rc::new(Cell::new(
            live.now.get_untracked() as f64 - js_sys::Date::now(),
        ));
        leptos::task::spawn_local(tick(live, offset.clone()));
        let mut poll_ms = FIRST_POLL_MS;
        loop {
            if !stream(live, &offset).await {
                return;
            }
            let until = js_sys::Date::now() + RETRY_STREAM_MS;
            while js_sys::Date::now() < until {
                live.link.try_set(Link::Polling(poll_ms / 1000));
                TimeoutFuture::new(poll_ms).await;
                if gone(&live) {
                    return;
                }
                let id = live.stock.get_untracked().product_id;
                match crate::api::get_stock(id).await {
                    Ok(news) => {
                        live.hear(news, &offset);
                        poll_ms = FIRST_POLL_MS;
                    }
                    Err(_) => poll_ms = (poll_ms * 2).min(MAX_POLL_MS),
                }
            }
        }
    }

    /// The server's clock, four times a second.
    async fn tick(live: LiveProduct, offset: Rc<Cell<f64>>) {
        loop {
            TimeoutFuture::new(250).await;
            if live
                .now
                .try_set((js_sys::Date::now() + offset.get()) as i64)
                .is_some()
            {
                return;
            }
        }
    }

    /// Listens until the stream cannot be held (`true`: poll instead) or the page is gone.
    async fn stream(live: LiveProduct, offset: &Cell<f64>) -> bool {
        let id = live.stock.get_untracked().product_id;
        let Ok(source) = EventSource::new(&format!("/api/v1/products/{id}/live")) else {
            return true;
        };
        let (tx, mut rx) = mpsc::unbounded::<Heard>();
        let on = |f: fn(&MessageEvent) -> Option<Heard>| {
            let tx = tx.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
                if let Some(h) = f(&e) {
                    let _ = tx.unbounded_send(h);
                }
            })
        };
        let on_stock = on(|e| parse(e).map(Heard::Stock));
        let on_order = on(|e| parse(e).map(Heard::Order));
        let open_tx = tx.clone();
        let on_open = Closure::<dyn FnMut(Event)>::new(move |_| {
            let _ = open_tx.unbounded_send(Heard::Open);
        });
        let (error_tx, watched) = (tx.clone(), source.clone());
        let on_error = Closure::<dyn FnMut(Event)>::new(move |_| {
            let closed = watched.ready_state() == EventSource::CLOSED;
            let _ = error_tx.unbounded_send(Heard::Error { closed });
        });
        let listen = |name: &str, f: &Closure<dyn FnMut(MessageEvent)>| {
            let _ = source.add_event_listener_with_callback(name, f.as_ref().unchecked_ref());
        };
        listen("stock", &on_stock);
        listen("order", &on_order);
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));

        let (mut errors, mut last_news) = (0, js_sys::Date::now());
        let poll_instead = loop {
            let next = futures::future::select(rx.next(), TimeoutFuture::new(1_000)).await;
            if gone(&live) {
                break false;
            }
            match next {
                futures::future::Either::Left((Some(heard), _)) => match heard {
                    Heard::Open => {
                        errors = 0;
                        live.link.try_set(Link::Live);
                    }
                    Heard::Stock(news) => {
                        last_news = js_sys::Date::now();
                        live.hear(news, offset);
                        live.link.try_set(Link::Live);
                    }
                    Heard::Order(order) => {
                        live.order.try_set(Some(order));
                    }
                    Heard::Error { closed } => {
                        errors += 1;
                        if closed || errors >= ERRORS_BEFORE_POLLING {
                            break true;
                        }
                        live.link.try_set(Link::Reconnecting);
                    }
                },
                futures::future::Either::Left((None, _)) => break true,
                futures::future::Either::Right(_) => {
                    if js_sys::Date::now() - last_news > SILENCE_MS {
                        break true;
                    }
                }
            }
        };
        source.close();
        // The listeners live until the source is closed.
        drop((on_stock, on_order, on_open, on_error));
        poll_instead
    }

    fn parse<T: serde::de::DeserializeOwned>(e: &MessageEvent) -> Option<T> {
        serde_json::from_str(&e.data().as_string()?).ok()
    }
}
