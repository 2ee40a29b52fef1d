//! Sale scenarios both test binaries run: the embedded one in `api`, RabbitMQ + MariaDB in
//! `services`.

use crate::helpers::{code, spawn_in, Mode, Shopper, TestApp};
use futures::future::join_all;
use reqwest::StatusCode;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Passes for everyone first (captchas are slow on purpose), then all purchases at once.
pub async fn crowd(app: &TestApp, shoppers: &[Shopper], product: i64) -> Vec<(StatusCode, String)> {
    let gate = Arc::new(Semaphore::new(64));
    let passes = join_all(shoppers.iter().map(|s| {
        let gate = gate.clone();
        async move {
            let _p = gate.acquire().await.unwrap();
            app.pass(s, product).await
        }
    }))
    .await;
    let gate = Arc::new(Semaphore::new(512));
    join_all(shoppers.iter().zip(passes).map(|(s, pass)| {
        let gate = gate.clone();
        async move {
            let _p = gate.acquire().await.unwrap();
            let (status, v) = app.purchase(s, product, &pass).await;
            (status, code(&v).to_string())
        }
    }))
    .await
}

pub async fn two_thousand_shoppers_one_hundred_units(mode: Mode) {
    // Drawing 2,000 captchas in a debug build takes longer than a pass lives by default.
    let app = spawn_in(
        mode,
        &[("FLASH_STOCK_BLOCK", "7"), ("FLASH_PASS_TTL_MS", "600000")],
    )
    .await;
    let p = app.on_sale(100).await;
    let shoppers = app.shoppers(2_000).await;
    let answers = crowd(&app, &shoppers, p).await;
    let accepted = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::ACCEPTED)
        .count();
    let sold_out = answers
        .iter()
        .filter(|(s, c)| *s == StatusCode::GONE && c == "sold_out")
        .count();
    let odd: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s != StatusCode::ACCEPTED && *s != StatusCode::GONE)
        .collect();
    assert_eq!((accepted, sold_out), (100, 1_900), "other answers: {odd:?}");
    assert_eq!(app.orders_settle(p, 100).await, (100, 100));
    // The page's row is at most a second old.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let (_, v) = app.get(None, &format!("/api/v1/products/{p}")).await;
    assert_eq!(v["stock_left"], 0);
    app.stop().await;
}

pub async fn one_shopper_one_hundred_purchases(mode: Mode) {
    let app = spawn_in(mode, &[]).await;
    let p = app.on_sale(50).await;
    let s = &app.shoppers(1).await[0];
    let mut passes = Vec::new();
    for _ in 0..100 {
        passes.push(app.pass(s, p).await);
    }
    let answers = join_all(passes.iter().map(|pass| app.purchase(s, p, pass))).await;
    let accepted = answers
        .iter()
        .filter(|(st, _)| *st == StatusCode::ACCEPTED)
        .count();
    let frequent = answers
        .iter()
        .filter(|(_, v)| code(v) == "too_frequent")
        .count();
    assert_eq!((accepted, frequent), (1, 99));
    assert_eq!(app.orders_settle(p, 1).await, (1, 1));
    app.stop().await;
}
