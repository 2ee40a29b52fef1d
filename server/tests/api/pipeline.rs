//! The sale's promises under concurrency and restarts: never oversell, one order per shopper.

use crate::helpers::{code, spawn_app_on, spawn_in, Mode, Shopper, TestApp};
use futures::future::join_all;
use reqwest::StatusCode;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Passes for everyone first (captchas are slow on purpose), then all purchases at once.
async fn crowd(app: &TestApp, shoppers: &[Shopper], product: i64) -> Vec<(StatusCode, String)> {
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

async fn two_thousand_shoppers_one_hundred_units(mode: Mode) {
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
    let (_, v) = app.get(None, &format!("/api/v1/products/{p}")).await;
    assert_eq!(v["stock_left"], 0);
    app.stop().await;
}

async fn one_shopper_one_hundred_purchases(mode: Mode) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_two_thousand_shoppers_one_hundred_units_exactly_one_hundred_orders() {
    two_thousand_shoppers_one_hundred_units(Mode::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rabbit_mariadb_two_thousand_shoppers_one_hundred_units_exactly_one_hundred_orders() {
    two_thousand_shoppers_one_hundred_units(Mode::Rabbit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_one_shopper_sending_one_hundred_purchases_gets_one_order() {
    one_shopper_one_hundred_purchases(Mode::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rabbit_mariadb_one_shopper_sending_one_hundred_purchases_gets_one_order() {
    one_shopper_one_hundred_purchases(Mode::Rabbit).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_mid_sale_does_not_oversell() {
    let url = crate::helpers::fresh_sqlite_url();
    let block = [("FLASH_STOCK_BLOCK", "8"), ("FLASH_PASS_TTL_MS", "600000")];
    let app = spawn_app_on(&url, &block).await;
    let p = app.on_sale(40).await;
    let first = app.shoppers(25).await;
    let answers = crowd(&app, &first, p).await;
    assert!(answers.iter().all(|(s, _)| *s == StatusCode::ACCEPTED));
    // A crash: leased units are stranded in the dead process.
    app.kill().await;

    let app = spawn_app_on(&url, &block).await;
    let second = app.shoppers(60).await;
    let answers = crowd(&app, &second, p).await;
    let accepted = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::ACCEPTED)
        .count();
    assert_eq!(
        accepted, 15,
        "the restarted server sells exactly what is left"
    );
    assert_eq!(app.order_count(p).await, (40, 40));
    // A graceful restart hands its leases back too.
    app.stop().await;
    let app = spawn_app_on(&url, &block).await;
    let late = &app.shoppers(1).await[0];
    let (s, v) = app.buy(late, p).await;
    assert_eq!((s, code(&v)), (StatusCode::GONE, "sold_out"));
    let row = server::repositories::products::get(&app.db, p)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((row.sold, row.leased, row.stock), (40, 40, 40));
    app.stop().await;
}
