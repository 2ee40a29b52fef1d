//! Faults between the purchase and the broker (issue 18, faults 2 and 7), on the machine's
//! RabbitMQ behind a proxy the test breaks, and MariaDB. Checked shopper by shopper.

use crate::backends::{fresh_mysql_url, unique_queue};
use crate::books::Books;
use crate::helpers::{spawn_app_on, Shopper, TestApp};
use crate::proxy::Proxy;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

async fn behind(proxy: &Proxy) -> TestApp {
    let (amqp, queue) = (proxy.amqp_url(), unique_queue());
    spawn_app_on(
        &fresh_mysql_url().await,
        &[
            ("AMQP_URL", &amqp),
            ("FLASH_QUEUE", &queue),
            ("FLASH_USER_INTERVAL_MS", "1"),
        ],
    )
    .await
}

async fn buy(app: &TestApp, books: &Books, s: &Shopper, p: i64) -> (StatusCode, Value) {
    let (status, v) = app.buy(s, p).await;
    books.note(s.id, status, &v);
    (status, v)
}

/// Fault 7: a broker that takes publishes and confirms none (a memory or disk alarm looks so).
/// The purchase holding a unit is answered within the publish deadline, not never.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_that_confirms_nothing_cannot_hold_a_purchase_for_ever() {
    let proxy = Proxy::broker().await;
    let app = behind(&proxy).await;
    let (p, books) = (app.on_sale(8).await, Books::default());
    let sh = app.shoppers(6).await;
    // One after the other: each of the publishers gets a batch, and so its connection.
    for s in &sh[..4] {
        assert_eq!(buy(&app, &books, s, p).await.0, StatusCode::ACCEPTED);
    }

    let pass = app.pass(&sh[4], p).await;
    proxy.stall();
    let answer =
        tokio::time::timeout(Duration::from_secs(15), app.purchase(&sh[4], p, &pass)).await;
    let Ok((status, v)) = answer else {
        panic!("a purchase waited more than 15 s for a broker that confirms nothing");
    };
    books.note(sh[4].id, status, &v);
    assert_eq!(
        (status, v["status"].as_str()),
        (StatusCode::ACCEPTED, Some("pending")),
        "{v}"
    );
    // The alarm clears; the stalled connections are dead by now and are closed.
    proxy.cut().await;
    proxy.restore();
    buy(&app, &books, &sh[5], p).await;
    let wrongs = books.wrongs(&app, p, sh.len()).await;
    assert!(wrongs.is_empty(), "{wrongs:?}");
    app.stop().await;
}

/// Fault 2: the publish was sent and its confirm never came (here the broker never had it; it
/// could as well have persisted it). In doubt, the order is pending and resent until confirmed:
/// the shopper is neither left without the order they were promised nor locked out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_whose_confirm_was_lost_is_stored_and_nobody_is_locked_out() {
    let proxy = Proxy::broker().await;
    let app = behind(&proxy).await;
    let (p, books) = (app.on_sale(10).await, Books::default());
    let sh = app.shoppers(9).await;
    // One after the other: each of the publishers gets a batch, and so its connection.
    for s in &sh[4..8] {
        assert_eq!(buy(&app, &books, s, p).await.0, StatusCode::ACCEPTED);
    }

    let passes = futures::future::join_all(sh[1..4].iter().map(|s| app.pass(s, p))).await;
    proxy.stall();
    let during = futures::future::join_all(
        sh[1..4]
            .iter()
            .zip(&passes)
            .map(|(s, pass)| app.purchase(s, p, pass)),
    );
    let broken = async {
        // The publishes are swallowed, then the connection drops and stays down past the
        // publish deadline: the sender cannot know whether the broker has them.
        tokio::time::sleep(Duration::from_millis(500)).await;
        proxy.cut().await;
        tokio::time::sleep(Duration::from_secs(6)).await;
        proxy.restore();
    };
    let (answers, ()) = tokio::join!(during, broken);
    for (s, (status, v)) in sh[1..4].iter().zip(answers) {
        books.note(s.id, status, &v);
    }
    // Everyone without an order buys again, as a shopper looking at an empty "My orders" does.
    for s in &sh {
        let mine = app.get(Some(s), "/api/v1/orders").await.1;
        let has = mine
            .as_array()
            .is_some_and(|o| o.iter().any(|o| o["product_id"] == p));
        if !has {
            buy(&app, &books, s, p).await;
        }
    }
    let wrongs = books.wrongs(&app, p, 9).await;
    assert!(wrongs.is_empty(), "{wrongs:?}");
    app.stop().await;
}
