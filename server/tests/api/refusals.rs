//! Every refusal code of the API, each provoked through HTTP.

use crate::helpers::{code, spawn_app, ANSWER};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn unauthenticated_not_found_and_bad_requests() {
    let app = spawn_app(&[]).await;
    let p = app.on_sale(5).await;
    let (s, v) = app
        .post(
            None,
            &format!("/api/v1/products/{p}/purchase"),
            json!({"pass": "x"}),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    let (s, v) = app.get(None, "/api/v1/orders").await;
    assert_eq!((s, code(&v)), (StatusCode::UNAUTHORIZED, "unauthenticated"));

    let (s, v) = app.get(None, "/api/v1/products/999999").await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"));
    let (s, v) = app.get(None, "/api/v1/products/abc").await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "bad_request"));
    let (s, v) = app.get(None, "/api/v1/nothing-here").await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, "not_found"));

    let shopper = &app.shoppers(1).await[0];
    let url = app.url(&format!("/api/v1/products/{p}/purchase"));
    for body in ["{not json", "{\"pass\": 42}", "[]", ""] {
        let r = app
            .http
            .post(&url)
            .header("cookie", &shopper.cookie)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body:?}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(code(&v), "bad_request");
    }
    // A well-formed body that does not say it is JSON.
    for kind in [None, Some("text/plain"), Some("application/jsonx")] {
        let mut req = app
            .http
            .post(&url)
            .header("cookie", &shopper.cookie)
            .body(r#"{"pass": "x"}"#);
        if let Some(kind) = kind {
            req = req.header("content-type", kind);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{kind:?}");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(code(&v), "bad_request");
    }
    let huge = format!("{{\"pass\": \"{}\"}}", "a".repeat(100_000));
    let r = app
        .http
        .post(&url)
        .header("cookie", &shopper.cookie)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let (s, v) = app.get(Some(shopper), "/check?productID=notanumber").await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "bad_request"));
    let (s, v) = app.get(None, &format!("/api/v1/products/{p}")).await;
    assert_eq!(s, StatusCode::OK);
    for key in [
        "id",
        "name",
        "price",
        "stock_left",
        "sale_start",
        "sale_end",
        "on_sale",
        "server_time",
    ] {
        assert!(v.get(key).is_some(), "{key} missing in {v}");
    }
    app.stop().await;
}

#[tokio::test]
async fn captcha_required_invalid_and_replayed() {
    let app = spawn_app(&[("FLASH_USER_INTERVAL_MS", "0")]).await;
    let p = app.on_sale(5).await;
    let sh = app.shoppers(2).await;
    let (a, b) = (&sh[0], &sh[1]);

    let (s, v) = app.purchase(a, p, "").await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "captcha_required"));
    let (s, v) = app.purchase(a, p, "forged-pass").await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "captcha_required"));

    let (_, c) = app
        .post(Some(a), &format!("/api/v1/products/{p}/captcha"), json!({}))
        .await;
    assert!(c["image"]
        .as_str()
        .unwrap()
        .starts_with("data:image/png;base64,"));
    let verify = format!("/api/v1/products/{p}/captcha/verify");
    let (s, v) = app
        .post(
            Some(a),
            &verify,
            json!({"captcha_id": c["captcha_id"], "answer": "wrong"}),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "captcha_invalid"));
    // A captcha is single use, even after a wrong answer.
    let (s, v) = app
        .post(
            Some(a),
            &verify,
            json!({"captcha_id": c["captcha_id"], "answer": ANSWER}),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "captcha_invalid"));
    // Another user's captcha is worthless.
    let (_, c) = app
        .post(Some(a), &format!("/api/v1/products/{p}/captcha"), json!({}))
        .await;
    let (s, v) = app
        .post(
            Some(b),
            &verify,
            json!({"captcha_id": c["captcha_id"], "answer": ANSWER}),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "captcha_invalid"));

    // Another user's pass, then the pass replayed after use.
    let pass_a = app.pass(a, p).await;
    let (s, v) = app.purchase(b, p, &pass_a).await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "captcha_required"));
    let (s, _) = app.purchase(a, p, &pass_a).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, v) = app.purchase(a, p, &pass_a).await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "captcha_required"));
    // A fresh pass for a product already bought.
    let (s, v) = app.buy(a, p).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "already_bought"));
    app.stop().await;
}

#[tokio::test]
async fn too_frequent_blacklisted_outside_window_sold_out() {
    let app = spawn_app(&[]).await;
    let one = app.on_sale(1).await;
    let other = app.on_sale(10).await;
    let later = app.product("Later", 5, 3_600_000, 7_200_000).await;
    let ended = app.product("Ended", 5, -7_200_000, -3_600_000).await;
    let sh = app.shoppers(3).await;

    let (s, v) = app.buy(&sh[0], one).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["status"], "reserved");
    assert!(v["order_id"].as_str().is_some_and(|id| !id.is_empty()));
    // Within 10 s, even for another product.
    let (s, v) = app.buy(&sh[0], other).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::TOO_MANY_REQUESTS, "too_frequent")
    );

    let (s, v) = app.buy(&sh[1], one).await;
    assert_eq!((s, code(&v)), (StatusCode::GONE, "sold_out"));

    for p in [later, ended] {
        let (s, v) = app
            .post(
                Some(&sh[2]),
                &format!("/api/v1/products/{p}/captcha"),
                json!({}),
            )
            .await;
        assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "outside_window"));
    }

    let pass = app.pass(&sh[2], other).await;
    server::repositories::blacklist::add(&app.db, sh[2].id, "bot", 0)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let (s, v) = app.purchase(&sh[2], other, &pass).await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "blacklisted"));
    app.stop().await;
}

/// Once this node knows the stock is gone, "sold out" comes before the cooldown and the pass:
/// neither is spent, so the same pass buys a unit that comes back later.
#[tokio::test]
async fn sold_out_is_answered_before_the_pass_is_spent() {
    let app = spawn_app(&[]).await;
    let p = app.on_sale(1).await;
    let sh = app.shoppers(3).await;
    let admin = app.admin().await;
    let (s, v) = app.buy(&sh[0], p).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let pass0 = app.pass(&sh[0], p).await;
    // Both passes first: the node remembers "sold out" for a second, and drawing a captcha
    // takes a while in a debug build.
    let (pass1, pass) = (app.pass(&sh[1], p).await, app.pass(&sh[2], p).await);
    // This one finds the stock gone (and spends its pass doing so).
    let (s, v) = app.purchase(&sh[1], p, &pass1).await;
    assert_eq!((s, code(&v)), (StatusCode::GONE, "sold_out"));
    let (s, v) = app.purchase(&sh[2], p, &pass).await;
    assert_eq!((s, code(&v)), (StatusCode::GONE, "sold_out"));
    // The buyer hears what concerns them (with a pass drawn earlier, for the same reason).
    let (s, v) = app.purchase(&sh[0], p, &pass0).await;
    assert_eq!((s, code(&v)), (StatusCode::CONFLICT, "already_bought"));

    let now = server::now_ms();
    let more = json!({"name": "More", "price": "1.00", "image": "", "stock": "2",
                      "sale_start": (now - 60_000).to_string(), "sale_end": (now + 3_600_000).to_string()});
    assert_eq!(app.put_product(&admin, p, &more).await, StatusCode::OK);
    let (s, v) = app.purchase(&sh[2], p, &pass).await;
    assert_eq!(s, StatusCode::ACCEPTED, "the pass was not spent: {v}");
    assert_eq!(app.order_count(p).await, (2, 2));
    app.stop().await;
}

#[tokio::test]
async fn token_bucket_answers_429_with_retry_after() {
    let app = spawn_app(&[
        ("FLASH_RATE_LIMITS", "on"),
        ("FLASH_PURCHASE_BURST", "3"),
        ("FLASH_PURCHASE_PERIOD_US", "60000000"),
    ])
    .await;
    let p = app.on_sale(5).await;
    let sh = app.shoppers(5).await;
    let mut limited = None;
    for s in &sh {
        let r = app
            .http
            .get(app.url(&format!("/check?productID={p}")))
            .header("cookie", &s.cookie)
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(r);
            break;
        }
    }
    let r = limited.expect("the bucket of 3 should run out within 5 requests");
    assert!(r.headers().get("retry-after").is_some());
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(code(&v), "rate_limited");
    // Reads draw from their own bucket.
    let (s, _) = app.get(None, "/api/v1/products").await;
    assert_eq!(s, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_failed_write_answers_unavailable_and_returns_the_unit() {
    let app = spawn_app(&[("FLASH_USER_INTERVAL_MS", "0")]).await;
    let p = app.on_sale(1).await;
    let sh = app.shoppers(2).await;
    sqlx::query("CREATE TRIGGER no_orders BEFORE INSERT ON orders BEGIN SELECT RAISE(ABORT, 'disk on fire'); END")
        .execute(&app.db.pool).await.unwrap();
    let (s, v) = app.buy(&sh[0], p).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    );
    sqlx::query("DROP TRIGGER no_orders")
        .execute(&app.db.pool)
        .await
        .unwrap();
    // The unit went back: someone can still buy it, and only once.
    let (s, v) = app.buy(&sh[1], p).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let (s, v) = app.buy(&sh[0], p).await;
    assert_eq!((s, code(&v)), (StatusCode::GONE, "sold_out"));
    assert_eq!(app.order_count(p).await, (1, 1));
    app.stop().await;
}

#[tokio::test]
async fn cross_site_posts_are_refused_and_security_headers_sent() {
    let app = spawn_app(&[]).await;
    let r = app
        .http
        .post(app.url("/api/v1/login"))
        .header("origin", "https://evil.example")
        .json(&json!({"name": "alice", "password": "whatever-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(code(&v), "forbidden");
    let r = app
        .http
        .get(app.url("/api/v1/products"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    app.stop().await;
}
