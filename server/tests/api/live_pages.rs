//! The live streams of open pages: what they hear, their bounds, and that they end when the
//! server stops (graceful shutdown waits for open connections).

use crate::helpers::{code, spawn_app, Shopper, TestApp};
use crate::live::LiveEvents;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

#[tokio::test]
async fn open_pages_hear_each_sale_and_sold_out_and_the_streams_end_at_shutdown() {
    let app = spawn_app(&[
        ("FLASH_LIVE_TICK_MS", "50"),
        ("FLASH_LIVE_HEARTBEAT_MS", "600"),
    ])
    .await;
    let id = app.on_sale(3).await;
    let shoppers = app.shoppers(3).await;
    let mut shopper_page = LiveEvents::open(&app, Some(&shoppers[0]), id)
        .await
        .expect("open");
    let mut visitor_page = LiveEvents::open(&app, None, id).await.expect("open");
    for page in [&mut shopper_page, &mut visitor_page] {
        let (name, first) = page.next().await.expect("the news now");
        assert_eq!(name, "stock");
        assert_eq!(
            (first["stock_left"].as_i64(), first["stock"].as_i64()),
            (Some(3), Some(3))
        );
        assert_eq!(first["phase"], "on_sale");
        assert!((first["server_time"].as_i64().unwrap() - server::now_ms()).abs() < 5_000);
    }
    // Unchanged, the news comes again with the heartbeat.
    let again = Instant::now();
    shopper_page.until("stock", |d| d["stock_left"] == 3).await;
    assert!(
        again.elapsed() < Duration::from_secs(3),
        "heartbeat after {:?}",
        again.elapsed()
    );

    for (i, s) in shoppers.iter().enumerate() {
        let (status, v) = app.buy(s, id).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{v}");
        let left = 2 - i as i64;
        for page in [&mut shopper_page, &mut visitor_page] {
            page.until("stock", |d| d["stock_left"].as_i64() == Some(left))
                .await;
        }
    }

    // A page opened now hears the latest news, not the purchase path's cached row (a second
    // old, still saying 1 left), which the ticker would never correct: it sends only changes.
    let mut late_page = LiveEvents::open(&app, None, id).await.expect("open");
    let (_, first) = late_page.next().await.expect("the news now");
    assert_eq!(first["stock_left"].as_i64(), Some(0), "{first}");

    let unknown = refused(&app, None, id + 1000).await;
    assert_eq!(unknown, (StatusCode::NOT_FOUND, "not_found".to_string()));

    tokio::time::timeout(Duration::from_secs(20), app.stop())
        .await
        .expect("the server stops with streams open");
    for page in [&mut shopper_page, &mut visitor_page] {
        while page.next().await.is_some() {}
    }
}

/// The refusal of a stream that should not open: (status, error code).
async fn refused(app: &TestApp, who: Option<&Shopper>, id: i64) -> (StatusCode, String) {
    let (status, v) = LiveEvents::open(app, who, id).await.err().expect("refused");
    (status, code(&v).to_string())
}

/// `/metrics`' count of open streams.
async fn open_streams(app: &TestApp) -> String {
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    let text = text.text().await.expect("metrics text");
    let line = text
        .lines()
        .find(|l| l.contains("map=\"live_streams\""))
        .expect("the gauge");
    line.rsplit(' ').next().unwrap_or("").to_string()
}

#[tokio::test]
async fn streams_are_bounded_per_client_and_for_the_process() {
    let overrides = [
        ("FLASH_STREAMS_PER_USER", "2"),
        ("FLASH_STREAMS_PER_ADDRESS", "1"),
        ("FLASH_MAX_STREAMS", "4"),
    ];
    let app = spawn_app(&overrides).await;
    let id = app.on_sale(1).await;
    let s = app.shoppers(2).await;
    let a = LiveEvents::open(&app, Some(&s[0]), id)
        .await
        .expect("first");
    let _b = LiveEvents::open(&app, Some(&s[0]), id)
        .await
        .expect("second");
    let too_many = (StatusCode::TOO_MANY_REQUESTS, "rate_limited".to_string());
    assert_eq!(
        refused(&app, Some(&s[0]), id).await,
        too_many,
        "a third for one shopper"
    );
    // Without a login a page counts against its address.
    let _visitor = LiveEvents::open(&app, None, id).await.expect("a visitor's");
    assert_eq!(
        refused(&app, None, id).await,
        too_many,
        "a second for one address"
    );
    let _c = LiveEvents::open(&app, Some(&s[1]), id)
        .await
        .expect("another shopper's");
    assert_eq!(open_streams(&app).await, "4");
    let busy = (StatusCode::SERVICE_UNAVAILABLE, "unavailable".to_string());
    assert_eq!(
        refused(&app, Some(&s[1]), id).await,
        busy,
        "over the process's bound"
    );
    // A page that goes gives its slot back.
    drop(a);
    let mut reopened = None;
    for _ in 0..50 {
        if let Ok(page) = LiveEvents::open(&app, Some(&s[0]), id).await {
            reopened = Some(page);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reopened.is_some(), "the closed page's slot came back");
    drop(reopened);
    app.stop().await;
}
