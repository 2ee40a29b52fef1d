//! After the click on the embedded default (SQLite, the embedded queue): reservations paid,
//! cancelled and expired, their units sold again; payments racing their deadlines; the doors'
//! refusals.

use crate::after_click;
use crate::helpers::{spawn_app, Mode};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reservations_paid_cancelled_expired_and_sold_again() {
    after_click::half_paid_half_returned_then_sold_again(Mode::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_racing_its_deadline_has_one_outcome() {
    after_click::payments_racing_their_deadlines(Mode::Embedded).await;
}

#[tokio::test]
async fn bad_payment_requests_are_clear_refusals() {
    let app = spawn_app(&[]).await;
    let shopper = &app.shoppers(2).await;
    let (s, v) = app
        .post(
            Some(&shopper[0]),
            "/api/v1/orders/not-a-uuid/cancel",
            json!({}),
        )
        .await;
    assert_eq!(
        (s, v["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_request"))
    );
    let unknown = uuid::Uuid::now_v7();
    let (s, _) = app
        .post(
            Some(&shopper[0]),
            &format!("/api/v1/orders/{unknown}/checkout"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .post(None, &format!("/api/v1/orders/{unknown}/cancel"), json!({}))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // Another's order is "no such order of yours", whatever it is.
    let p = app.on_sale(5).await;
    let (s, v) = app.buy(&shopper[0], p).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["order_id"].as_str().unwrap();
    let (s, _) = app
        .post(
            Some(&shopper[1]),
            &format!("/api/v1/orders/{id}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A webhook without a signature, or with a forged one, changes nothing.
    let hook = app.url("/api/v1/payments/webhook");
    let r = app.http.post(&hook).body("{}").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let forged =
        format!(r#"{{"event_id":"e","order_id":"{id}","payment_ref":"p","succeeded":true}}"#);
    let r = app
        .http
        .post(&hook)
        .header("payment-signature", "t=1,v1=00ff")
        .body(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let (_, orders) = app.get(Some(&shopper[0]), "/api/v1/orders").await;
    assert_eq!(orders[0]["status"], "reserved");
    assert!(orders[0]["pays_in_ms"].as_i64().unwrap() > 800_000);
    // Checkout names the provider's page; the shopper's cancel gives the unit back.
    let (s, v) = app
        .post(
            Some(&shopper[0]),
            &format!("/api/v1/orders/{id}/checkout"),
            json!({}),
        )
        .await;
    assert_eq!(
        (s, v["url"].as_str()),
        (StatusCode::OK, Some(&*format!("/pay/{id}")))
    );
    let (s, v) = app
        .post(
            Some(&shopper[0]),
            &format!("/api/v1/orders/{id}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(
        (s, v["status"].as_str()),
        (StatusCode::OK, Some("cancelled"))
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let (_, v) = app.get(None, &format!("/api/v1/products/{p}")).await;
    assert_eq!(
        v["stock_left"], 5,
        "the unit is back (the page's row is at most a second old)"
    );
    app.stop().await;
}
