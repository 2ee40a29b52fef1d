//! Shoppers who close the tab mid-purchase: the connection goes away while the purchase is
//! anywhere between its checks and the queue. Nothing may be stranded: every shopper without an
//! order can still buy (no claim left without its order), and every unit is sold in the end (no
//! unit left taken for an order that never was).

use crate::helpers::{code, spawn_app, Shopper, TestApp};
use futures::StreamExt;
use reqwest::StatusCode;
use std::collections::HashSet;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// Sends the purchase and hangs up after `after`, without reading the answer.
async fn buy_and_hang_up(app: &TestApp, s: &Shopper, product: i64, pass: &str, after: Duration) {
    let addr = app.base.trim_start_matches("http://");
    let body = format!("{{\"pass\":\"{pass}\"}}");
    let request = format!(
        "POST /api/v1/products/{product}/purchase HTTP/1.1\r\nHost: {addr}\r\nCookie: {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        s.cookie,
        body.len()
    );
    let mut conn = TcpStream::connect(addr).await.expect("connect");
    conn.write_all(request.as_bytes()).await.expect("send");
    tokio::time::sleep(after).await;
    drop(conn);
}

async fn buyers(app: &TestApp, product: i64) -> HashSet<i64> {
    sqlx::query_scalar::<_, i64>("SELECT user_id FROM orders WHERE product_id = ?")
        .bind(product)
        .fetch_all(&app.db.pool)
        .await
        .expect("orders")
        .into_iter()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hanging_up_mid_purchase_strands_no_claim_and_no_unit() {
    // Small lease blocks: hang-ups also land while a purchase refills stock from the database.
    let app = spawn_app(&[("FLASH_USER_INTERVAL_MS", "1"), ("FLASH_STOCK_BLOCK", "3")]).await;
    let units = 60;
    let product = app.on_sale(units).await;
    let shoppers = app.shoppers(150).await;
    let passes: Vec<String> = futures::stream::iter(&shoppers)
        .map(|s| app.pass(s, product))
        .buffered(16)
        .collect()
        .await;
    // Hang up anywhere from at once to a few milliseconds in: before, during and after the steps.
    futures::stream::iter(shoppers.iter().zip(&passes).enumerate())
        .for_each_concurrent(48, |(i, (s, pass))| {
            let after = Duration::from_micros((i as u64 * 137) % 4_000);
            buy_and_hang_up(&app, s, product, pass, after)
        })
        .await;
    // Let the purchases that went on without their client finish.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let bought = buyers(&app, product).await;
    let mut refused = Vec::new();
    for s in shoppers.iter().filter(|s| !bought.contains(&s.id)) {
        let (status, body) = app.buy(s, product).await;
        match code(&body) {
            _ if status == StatusCode::ACCEPTED => {}
            "sold_out" => {}
            other => refused.push((s.id, other.to_string())),
        }
    }
    assert!(
        refused.is_empty(),
        "shoppers without an order who could not buy: {refused:?}"
    );
    let (count, distinct) = app.orders_settle(product, units).await;
    assert_eq!(count, distinct, "a shopper with two orders");
    assert_eq!(count, units, "every unit sold: none stranded by a hang-up");
    app.stop().await;
}
