//! With RabbitMQ a purchase is queued first; the shopper's open page hears their order once the
//! consumer has stored it, and only their page does.

use crate::helpers::{spawn_in, Mode};
use crate::live::LiveEvents;
use reqwest::StatusCode;

#[tokio::test]
async fn the_shoppers_page_hears_its_order_once_stored() {
    let app = spawn_in(Mode::Rabbit, &[("FLASH_LIVE_TICK_MS", "50")]).await;
    let id = app.on_sale(5).await;
    let s = app.shoppers(2).await;
    let mut mine = LiveEvents::open(&app, Some(&s[0]), id).await.expect("open");
    let mut theirs = LiveEvents::open(&app, Some(&s[1]), id).await.expect("open");
    let (status, v) = app.buy(&s[0], id).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["status"], "queued");
    let order = mine.until("order", |_| true).await;
    assert_eq!(order["order_id"], v["order_id"]);
    assert_eq!(order["status"], "reserved");
    assert_eq!(order["product_id"].as_i64(), Some(id));
    let (n, _) = app.order_count(id).await;
    assert_eq!(n, 1, "told only once stored");
    // The other shopper's page hears the stock change, and no order.
    loop {
        let (name, data) = theirs.next().await.expect("news");
        assert_ne!(name, "order", "another shopper's order: {data}");
        if data["stock_left"] == 4 {
            break;
        }
    }
    app.stop().await;
}
