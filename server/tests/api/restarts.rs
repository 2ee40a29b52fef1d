//! A server restarted in the middle of a sale (issue 18, fault 6): what it held in memory about
//! each shopper within its lifetime — the passes they spent, the 10 s between purchases — must
//! hold across the restart.

use crate::helpers::{code, fresh_sqlite_url, spawn_app_on};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_forgets_neither_spent_passes_nor_cooldowns() {
    let url = fresh_sqlite_url();
    let app = spawn_app_on(&url, &[]).await;
    let (a, b) = (app.on_sale(5).await, app.on_sale(5).await);
    let s = &app.shoppers(1).await[0];
    let pass = app.pass(s, a).await;
    let (status, v) = app.purchase(s, a, &pass).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    app.stop().await;

    let app = spawn_app_on(&url, &[]).await;
    let (status, v) = app.buy(s, b).await;
    assert_eq!(
        (status, code(&v)),
        (StatusCode::TOO_MANY_REQUESTS, "too_frequent"),
        "a second purchase within 10 s of the first, across a restart: {v}"
    );
    let (status, v) = app.purchase(s, a, &pass).await;
    assert_eq!(
        (status, code(&v)),
        (StatusCode::BAD_REQUEST, "captcha_required"),
        "a spent pass replayed after a restart: {v}"
    );
    app.stop().await;
}
