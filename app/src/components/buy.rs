//! "Buy now": captcha → pass → purchase → queued → confirmed, with the 10-second cooldown.

use super::auth_state::{login_href, use_user};
use super::captcha_modal::CaptchaModal;
use super::clock::browser_now;
use super::hydration::use_mounted;
use super::live::{Link, LiveProduct};
use crate::api::{my_orders, new_captcha, purchase, verify_captcha};
use crate::model::{ApiError, Captcha, ErrorCode, OrderStatus, SalePhase};
use crate::time::format_countdown;
use leptos::prelude::*;
use leptos::task::spawn_local;

/// The seed's rule: one click every 10 seconds (the server enforces it too).
pub const COOLDOWN_MS: i64 = 10_000;

#[derive(Clone, PartialEq)]
enum Notice {
    Success(String),
    Info(String),
    Error(ErrorCode, String),
}

/// Enabled while the sale is on and units are left, as the live stream tells; a visitor who is
/// not logged in is sent to the login first.
#[component]
pub fn BuyPanel(product_id: i64, live: LiveProduct) -> impl IntoView {
    let enabled = move || live.phase() == SalePhase::OnSale && live.stock.get().stock_left > 0;
    let user = use_user();
    // Asked in the browser only: the page's HTML is the same for everyone.
    let mounted = use_mounted();
    let anonymous = move || mounted.get() && matches!(user.get(), Some(Ok(None)));
    let modal_open = RwSignal::new(false);
    let captcha = RwSignal::new(None::<Captcha>);
    let captcha_error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let notice = RwSignal::new(None::<Notice>);
    // Browser clock values; 0 during SSR and hydration so both render the same button.
    let cooldown_until = RwSignal::new(0i64);
    let now = RwSignal::new(0i64);

    let start_cooldown = move |until: i64| {
        cooldown_until.set(until);
        now.set(browser_now());
        cooldown::save(product_id, until);
        spawn_local(async move {
            while now.try_get_untracked().is_some_and(|n| n < until) {
                gloo_sleep(250).await;
                if now.try_set(browser_now()).is_some() {
                    break;
                }
            }
        });
    };

    // A reload keeps the cooldown: it lives in localStorage.
    Effect::new(move |_| {
        let until = cooldown::load(product_id);
        if until > browser_now() {
            start_cooldown(until);
        }
    });

    let load_captcha = move || {
        captcha.set(None);
        spawn_local(async move {
            match new_captcha(product_id).await {
                Ok(c) => {
                    let (id, ttl) = (c.captcha_id.clone(), c.expires_in_ms);
                    captcha.set(Some(c));
                    // Refresh by itself a little before the server forgets it.
                    gloo_sleep((ttl - 5_000).max(1_000) as u32).await;
                    let same =
                        captcha.try_get_untracked().flatten().map(|c| c.captcha_id) == Some(id);
                    if same && modal_open.get_untracked() {
                        if let Ok(c) = new_captcha(product_id).await {
                            captcha.try_set(Some(c));
                        }
                    }
                }
                Err(e) => {
                    modal_open.set(false);
                    notice.set(Some(error_notice(e)));
                }
            }
        });
    };

    let open = move |_| {
        notice.set(None);
        captcha_error.set(None);
        modal_open.set(true);
        load_captcha();
    };

    let submit = Callback::new(move |answer: String| {
        let answer = answer.trim().to_string();
        let Some(current) = captcha.get_untracked() else {
            return;
        };
        if answer.is_empty() {
            captcha_error.set(Some("Type the characters shown in the image.".into()));
            return;
        }
        busy.set(true);
        spawn_local(async move {
            match verify_captcha(product_id, current.captcha_id, answer).await {
                Ok(pass) => {
                    modal_open.set(false);
                    start_cooldown(browser_now() + COOLDOWN_MS);
                    notice.set(Some(Notice::Info("Sending your order…".into())));
                    match purchase(product_id, pass.pass).await {
                        Ok(outcome) => {
                            notice.set(Some(queued_or_confirmed(outcome.status)));
                            if outcome.status != OrderStatus::Reserved {
                                wait_for_confirmation(outcome.order_id, live, notice).await;
                            }
                        }
                        Err(e) => notice.set(Some(error_notice(e))),
                    }
                }
                Err(e) if e.error == ErrorCode::CaptchaInvalid => {
                    captcha_error.set(Some(
                        "Wrong captcha. Here is a new one: please try again.".into(),
                    ));
                    load_captcha();
                }
                Err(e) => {
                    modal_open.set(false);
                    notice.set(Some(error_notice(e)));
                }
            }
            busy.set(false);
        });
    });

    let remaining = move || (cooldown_until.get() - now.get()).max(0);
    let cooling = move || remaining() > 0;

    let here = format!("/product/{product_id}");
    view! {
        <div class="buy">
            <Show
                when=move || !anonymous()
                fallback=move || {
                    view! {
                        <a class="button button-buy" data-testid="login-to-buy" href=login_href(&here)>
                            "Log in to buy"
                        </a>
                    }
                }
            >
                <button
                    class="button button-buy"
                    data-testid="buy-button"
                    disabled=move || !enabled() || cooling() || busy.get()
                    on:click=open
                >
                    {move || {
                        if cooling() {
                            format!("Wait {}", format_countdown(remaining()))
                        } else if live.phase() == SalePhase::OnSale && live.stock.get().stock_left <= 0 {
                            "Sold out".to_string()
                        } else {
                            "Buy now".to_string()
                        }
                    }}
                </button>
            </Show>
            {move || {
                cooling()
                    .then(|| {
                        view! {
                            <p class="muted" data-testid="cooldown">
                                "You can click again in "
                                <strong>{move || (remaining() + 999) / 1000}</strong>
                                " s."
                            </p>
                        }
                    })
            }}
            <div aria-live="polite">{move || notice.get().map(render_notice)}</div>
            <Show when=move || modal_open.get()>
                <CaptchaModal
                    captcha
                    error=captcha_error
                    busy=busy.into()
                    on_refresh=Callback::new(move |_| {
                        captcha_error.set(None);
                        load_captcha();
                    })
                    on_submit=submit
                    on_close=Callback::new(move |_| modal_open.set(false))
                />
            </Show>
        </div>
    }
}

fn queued_or_confirmed(status: OrderStatus) -> Notice {
    match status {
        OrderStatus::Pending => Notice::Info(
            "Order sent: the queue is slow to confirm it, it will be in your orders soon…".into(),
        ),
        OrderStatus::Queued => Notice::Info("Order queued: waiting for confirmation…".into()),
        OrderStatus::Reserved | OrderStatus::Paid => Notice::Success(
            "Order confirmed! It is reserved for you: pay for it in My orders before its deadline."
                .into(),
        ),
        OrderStatus::Expired | OrderStatus::Cancelled => {
            Notice::Info("Your reservation has ended: its unit is back on sale.".into())
        }
    }
}

/// Until the order is stored: told by the live stream, or (when the page is not live, or the
/// stream stays silent, as when it is held by another node) asked with backoff.
async fn wait_for_confirmation(
    order_id: String,
    live: LiveProduct,
    notice: RwSignal<Option<Notice>>,
) {
    const GIVE_UP_MS: u32 = 60_000;
    /// A live page waits this long for the stream before asking.
    const QUIET_MS: u32 = 5_000;
    let (mut waited, mut next_ask, mut backoff) = (0u32, 1_000u32, 1_000u32);
    while waited < GIVE_UP_MS {
        gloo_sleep(250).await;
        waited += 250;
        let is_ours = |status: OrderStatus, id: &str| id == order_id && status.is_stored();
        let mut confirmed = live
            .order
            .try_get_untracked()
            .flatten()
            .is_some_and(|o| is_ours(o.status, &o.order_id));
        let due = if live.link.try_get_untracked() == Some(Link::Live) {
            next_ask.max(QUIET_MS)
        } else {
            next_ask
        };
        if !confirmed && waited >= due {
            if let Ok(orders) = my_orders().await {
                confirmed = orders.iter().any(|o| is_ours(o.status, &o.order_id));
            }
            next_ask = waited + backoff;
            backoff = (backoff * 2).min(8_000);
        }
        if confirmed {
            notice.try_set(Some(queued_or_confirmed(OrderStatus::Reserved)));
            return;
        }
    }
}

fn error_notice(e: ApiError) -> Notice {
    let text = match e.error {
        ErrorCode::SoldOut => "Sold out: every unit has been sold.".to_string(),
        ErrorCode::TooFrequent => format!("Too frequent: {}", e.message),
        ErrorCode::AlreadyBought => "You have already bought this product.".to_string(),
        ErrorCode::Blacklisted => {
            "Access denied: your account may not buy in this sale.".to_string()
        }
        ErrorCode::OutsideWindow => "The sale is not open right now.".to_string(),
        ErrorCode::Unauthenticated => "Please log in to buy.".to_string(),
        _ => e.message,
    };
    Notice::Error(e.error, text)
}

fn render_notice(n: Notice) -> impl IntoView {
    let (class, code, text) = match n {
        Notice::Success(t) => ("alert alert-success", "confirmed", t),
        Notice::Info(t) => ("alert alert-info", "queued", t),
        Notice::Error(code, t) => ("alert alert-error", code.as_str(), t),
    };
    view! {
        <p class=class role="status" data-testid="notice" data-code=code>
            {text}
        </p>
    }
}

async fn gloo_sleep(ms: u32) {
    #[cfg(feature = "hydrate")]
    gloo_timers::future::TimeoutFuture::new(ms).await;
    #[cfg(not(feature = "hydrate"))]
    let _ = ms;
}

mod cooldown {
    //! The cooldown deadline in localStorage, per product (browser only).

    fn key(product_id: i64) -> String {
        format!("flash-sale:cooldown:{product_id}")
    }

    pub fn save(product_id: i64, until: i64) {
        #[cfg(feature = "hydrate")]
        if let Some(Ok(Some(s))) = web_sys::window().map(|w| w.local_storage()) {
            let _ = s.set_item(&key(product_id), &until.to_string());
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (key(product_id), until);
    }

    pub fn load(product_id: i64) -> i64 {
        #[cfg(feature = "hydrate")]
        if let Some(Ok(Some(s))) = web_sys::window().map(|w| w.local_storage()) {
            if let Ok(Some(v)) = s.get_item(&key(product_id)) {
                return v.parse().unwrap_or(0);
            }
        }
        let _ = key(product_id);
        0
    }
}
