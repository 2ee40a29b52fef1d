//! After the click, in both test binaries (embedded in `api`, RabbitMQ + MariaDB in `services`):
//! a crowd's reservations paid, cancelled or left to expire, the units sold again to a second
//! crowd; payments racing their deadlines. Every answer is checked against the stored rows.

use crate::books::Books;
use crate::helpers::{spawn_in, Mode, Shopper, TestApp};
use crate::scenarios::crowd;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::services::reservations::provider::{PaymentEvent, Signer};
use std::collections::HashMap;
use std::time::Duration;

pub const WEBHOOK_SECRET: &str = "test-webhook-secret-test-webhook-secret";

async fn app(mode: Mode) -> TestApp {
    spawn_in(
        mode,
        &[
            ("FLASH_PASS_TTL_MS", "600000"),
            ("FLASH_EXPIRY_SWEEP_MS", "20"),
            ("FLASH_DEV_PAYMENT_CONFIRM_MS", "20"),
            ("FLASH_PAYMENT_WEBHOOK_SECRET", WEBHOOK_SECRET),
            ("FLASH_USER_INTERVAL_MS", "100"),
        ],
    )
    .await
}

/// A product on sale whose reservations must be paid within `ms`.
async fn product(app: &TestApp, stock: i64, ms: i64) -> i64 {
    let p = app.on_sale(stock).await;
    sqlx::query("UPDATE products SET pay_within_ms = ? WHERE id = ?")
        .bind(ms)
        .bind(p)
        .execute(&app.db.pool)
        .await
        .unwrap();
    p
}

/// Each shopper's stored order of the product: (order id, status, deadline).
async fn stored(app: &TestApp, product: i64) -> HashMap<i64, Vec<(String, String, i64)>> {
    let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(
        "SELECT user_id, id, status, deadline FROM orders WHERE product_id = ? ORDER BY created_at",
    )
    .bind(product)
    .fetch_all(&app.db.pool)
    .await
    .unwrap();
    let mut by_user: HashMap<i64, Vec<_>> = HashMap::new();
    for (user, id, status, deadline) in rows {
        by_user
            .entry(user)
            .or_default()
            .push((id, status, deadline));
    }
    by_user
}

async fn count(app: &TestApp, product: i64, status: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM orders WHERE product_id = ? AND status = ?")
        .bind(product)
        .bind(status)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

/// Until `status` has `n` orders (or a minute passed): how many it has.
async fn until(app: &TestApp, product: i64, status: &str, n: i64) -> i64 {
    for _ in 0..600 {
        if count(app, product, status).await >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    count(app, product, status).await
}

/// (stock, sold, leased) of the product.
async fn books(app: &TestApp, product: i64) -> (i64, i64, i64) {
    sqlx::query_as("SELECT stock, sold, leased FROM products WHERE id = ?")
        .bind(product)
        .fetch_one(&app.db.pool)
        .await
        .unwrap()
}

async fn act(app: &TestApp, s: &Shopper, order: String, action: &str, body: Value) -> StatusCode {
    let path = match action {
        "pay" => format!("/api/v1/payments/dev/{order}"),
        other => format!("/api/v1/orders/{order}/{other}"),
    };
    app.post(Some(s), &path, body).await.0
}

pub async fn half_paid_half_returned_then_sold_again(mode: Mode) {
    // 1,000 reservations, half paid and half left to expire, and 100 more cancelled.
    const N: usize = 1_000;
    const CANCELLED: usize = 100;
    let all = N + CANCELLED;
    let app = app(mode).await;
    // Long enough for a debug build's crowd to buy and half of it to pay.
    let p = product(&app, all as i64, 40_000).await;
    let first = app.shoppers(all).await;
    let answers = crowd(&app, &first, p).await;
    let accepted = answers.iter().filter(|(s, _)| *s == StatusCode::ACCEPTED);
    assert_eq!(accepted.count(), all, "every unit reserved");
    assert_eq!(until(&app, p, "reserved", all as i64).await, all as i64);
    let orders = stored(&app, p).await;
    let order = |s: &Shopper| orders[&s.id][0].0.clone();
    // Half pay (the provider confirms later), the other half let the deadline pass.
    let (payers, rest) = first.split_at(N / 2);
    let (cancellers, idle) = rest.split_at(CANCELLED);
    let paid = join_all(
        payers
            .iter()
            .map(|s| act(&app, s, order(s), "pay", json!({"pay": true}))),
    );
    let cancelled = join_all(
        cancellers
            .iter()
            .map(|s| act(&app, s, order(s), "cancel", json!({}))),
    );
    let (paid, cancelled) = futures::join!(paid, cancelled);
    assert!(paid.iter().all(|s| *s == StatusCode::OK), "{paid:?}");
    assert!(
        cancelled.iter().all(|s| *s == StatusCode::OK),
        "{cancelled:?}"
    );
    assert_eq!(
        until(&app, p, "paid", payers.len() as i64).await,
        payers.len() as i64
    );
    // A paid order cannot be cancelled, nor a cancelled one paid.
    let again = act(&app, &payers[0], order(&payers[0]), "cancel", json!({})).await;
    assert_eq!(again, StatusCode::CONFLICT);
    let again = act(
        &app,
        &cancellers[0],
        order(&cancellers[0]),
        "pay",
        json!({"pay": true}),
    );
    assert_eq!(again.await, StatusCode::CONFLICT);
    let expired = until(&app, p, "expired", idle.len() as i64).await;
    assert_eq!(expired, idle.len() as i64);
    let (stock, sold, _) = books(&app, p).await;
    let returned = (cancellers.len() + idle.len()) as i64;
    assert_eq!(
        (stock, sold),
        (all as i64, all as i64 - returned),
        "units back"
    );
    // The page's row is at most a second old.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let (_, v) = app.get(None, &format!("/api/v1/products/{p}")).await;
    assert_eq!(v["stock_left"], returned, "the page shows them back");

    // The second crowd: those whose reservation ended, and as many newcomers, for the units
    // that came back. Each accepted answer is one live order; the payers stay refused.
    let newcomers = app.shoppers(returned as usize).await;
    let second: Vec<Shopper> = rest
        .iter()
        .chain(payers.iter().take(50))
        .map(|s| Shopper {
            id: s.id,
            cookie: s.cookie.clone(),
        })
        .chain(newcomers)
        .collect();
    let ledger = Books::default();
    let sold_again = ledger.crowd(&app, &second, p).await;
    assert_eq!(
        sold_again, returned as usize,
        "every returned unit sold again"
    );
    assert_eq!(until(&app, p, "reserved", returned).await, returned);
    let wrongs = ledger.wrongs(&app, p, all).await;
    assert!(wrongs.is_empty(), "{wrongs:?}");
    let paid_now = count(&app, p, "paid").await;
    let reserved = count(&app, p, "reserved").await;
    let (stock, sold, leased) = books(&app, p).await;
    let left = stock - sold;
    assert_eq!(
        stock,
        paid_now + reserved + left,
        "stock = paid + reserved + left"
    );
    assert_eq!((left, sold, leased), (0, all as i64, all as i64));
    let ended = count(&app, p, "expired").await + count(&app, p, "cancelled").await;
    assert_eq!(ended, returned, "returned = expired + cancelled");
    app.stop().await;
}

/// A signed payment confirmation for the order, as a provider's webhook carries it.
fn webhook(order_id: &str, event: usize) -> (String, Vec<u8>) {
    let event = PaymentEvent {
        event_id: format!("evt_{order_id}_{event}"),
        order_id: order_id.into(),
        payment_ref: format!("pay_{order_id}"),
        succeeded: true,
    };
    let body = serde_json::to_vec(&event).unwrap();
    let signer = Signer::new(WEBHOOK_SECRET.as_bytes());
    (signer.sign(&body, server::now_ms() / 1000), body)
}

async fn deliver(app: &TestApp, order_id: &str, event: usize) -> (StatusCode, Value) {
    let (signature, body) = webhook(order_id, event);
    let r = app
        .http
        .post(app.url("/api/v1/payments/webhook"))
        .header("payment-signature", signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub async fn payments_racing_their_deadlines(mode: Mode) {
    const N: usize = 200;
    let app = app(mode).await;
    let p = product(&app, N as i64, 6_000).await;
    let shoppers = app.shoppers(N).await;
    let answers = crowd(&app, &shoppers, p).await;
    assert!(answers.iter().all(|(s, _)| *s == StatusCode::ACCEPTED));
    assert_eq!(until(&app, p, "reserved", N as i64).await, N as i64);
    let orders = stored(&app, p).await;
    // Each order's payment lands within a few ms of its deadline, delivered three times; one in
    // ten a second early (it must win) and one in ten a second late (it must lose).
    let offset = |i: usize| match i % 10 {
        0 => -1_000,
        1 => 1_000,
        _ => (i as i64 % 21) - 10,
    };
    let races = shoppers.iter().enumerate().map(|(i, s)| {
        let (id, _, deadline) = orders[&s.id][0].clone();
        let app = &app;
        async move {
            let at = deadline + offset(i);
            let wait = (at - server::now_ms()).max(0) as u64;
            tokio::time::sleep(Duration::from_millis(wait)).await;
            // A copy while the first is handled (told to come again, or answered alike), then
            // a later redelivery.
            let (a, copy) = futures::join!(deliver(app, &id, 1), deliver(app, &id, 1));
            let b = deliver(app, &id, 1).await;
            (i, id, a, copy, b)
        }
    });
    let outcomes = join_all(races).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = stored(&app, p).await;
    let status_of: HashMap<String, String> = after
        .values()
        .flatten()
        .map(|(id, st, _)| (id.clone(), st.clone()))
        .collect();
    let (mut paid, mut refunded) = (0, 0);
    for (i, id, (sa, a), (sc, copy), (sb, b)) in &outcomes {
        let first = if *sa == StatusCode::OK { a } else { copy };
        assert!(
            [*sa, *sc].contains(&StatusCode::OK)
                && [*sa, *sc]
                    .iter()
                    .all(|s| [StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE].contains(s)),
            "{a} {copy}"
        );
        assert_eq!(*sb, StatusCode::OK, "{b}");
        assert_eq!(
            first["outcome"], b["outcome"],
            "one event, one outcome: {id}"
        );
        if *sa == *sc {
            assert_eq!(a["outcome"], copy["outcome"], "{id}");
        }
        let a = first;
        match (a["outcome"].as_str(), status_of[id].as_str()) {
            (Some("paid"), "paid") => paid += 1,
            (Some("refunded"), "expired") => refunded += 1,
            other => panic!("order {id}: answered and stored {other:?}"),
        }
        match i % 10 {
            0 => assert_eq!(a["outcome"], "paid", "a second early: {id}"),
            1 => assert_eq!(a["outcome"], "refunded", "a second late: {id}"),
            _ => {}
        }
    }
    assert_eq!(paid + refunded, N);
    let (stock, sold, _) = books(&app, p).await;
    assert_eq!((stock - sold, sold), (refunded as i64, paid as i64));
    assert!(
        paid > 0 && refunded > 0,
        "both sides of the deadline: {paid} / {refunded}"
    );
    app.stop().await;
}
