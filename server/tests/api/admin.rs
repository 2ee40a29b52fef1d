//! The admin API and server functions: role-checked on the server, changes live at once.

use crate::helpers::{code, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::json;

const FORM: &str =
    "id=1&product_id=1&user_id=1&name=a&price=1&image=&stock=1&sale_start=&sale_end=2\
                    &user=a&reason=b&filter[page]=1";

const ADMIN_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/admin/products"),
    ("POST", "/api/v1/admin/products"),
    ("PUT", "/api/v1/admin/products/1"),
    ("DELETE", "/api/v1/admin/products/1"),
    ("GET", "/api/v1/admin/orders"),
    ("GET", "/api/v1/admin/orders.csv"),
    ("GET", "/api/v1/admin/blacklist"),
    ("POST", "/api/v1/admin/blacklist"),
    ("DELETE", "/api/v1/admin/blacklist/1"),
    ("GET", "/api/v1/admin/dashboard/1"),
    // Server functions.
    ("POST", "/api/admin/products"),
    ("POST", "/api/admin/save_product"),
    ("POST", "/api/admin/delete_product"),
    ("POST", "/api/admin/orders"),
    ("POST", "/api/admin/blacklist"),
    ("POST", "/api/admin/blacklist_add"),
    ("POST", "/api/admin/blacklist_remove"),
    ("POST", "/api/admin/dashboard"),
];

#[tokio::test]
async fn every_admin_route_and_server_function_needs_an_admin() {
    let app = spawn_app(&[]).await;
    let shopper = &app.shoppers(1).await[0];
    for (method, path) in ADMIN_ROUTES {
        for (who, expected) in [
            (None, StatusCode::UNAUTHORIZED),
            (Some(shopper), StatusCode::FORBIDDEN),
        ] {
            let mut req = app.http.request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(path),
            );
            if path.starts_with("/api/v1/") {
                req = req.json(&json!({}));
            } else {
                req = req
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(FORM);
            }
            if let Some(s) = who {
                req = req.header("cookie", &s.cookie);
            }
            let r = req.send().await.unwrap();
            assert_eq!(
                r.status(),
                expected,
                "{method} {path} as {:?}",
                who.map(|s| s.id)
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn admins_run_a_sale_and_changes_apply_at_once() {
    let app = spawn_app(&[("FLASH_USER_INTERVAL_MS", "0")]).await;
    let admin = app.admin().await;
    let shoppers = app.shoppers(2).await;

    let bad = json!({"name": "", "price": "-3", "image": "", "stock": "x", "sale_start": "", "sale_end": "never"});
    let (s, v) = app.post(Some(&admin), "/api/v1/admin/products", bad).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let fields: Vec<&str> = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["name", "price", "stock", "sale_end"]);

    let now = server::now_ms();
    let form = json!({"name": "<b>Lamp</b>", "price": "12.50", "image": "", "stock": "5",
                      "sale_start": (now - 1000).to_string(), "sale_end": (now + 3_600_000).to_string()});
    let (s, p) = app.post(Some(&admin), "/api/v1/admin/products", form).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let id = p["id"].as_i64().unwrap();
    assert_eq!(
        (p["price_cents"].as_i64(), p["stock_left"].as_i64()),
        (Some(1250), Some(5))
    );

    let (s, v) = app.buy(&shoppers[0], id).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let (_, d) = app
        .get(Some(&admin), &format!("/api/v1/admin/dashboard/{id}"))
        .await;
    assert_eq!(
        (d["sold"].as_i64(), d["left"].as_i64()),
        (Some(1), Some(4)),
        "{d}"
    );
    assert!(
        d["orders_per_second"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_i64() == Some(1)),
        "{d}"
    );

    // The product page is HTML-escaped: the name is text, never markup.
    let html = app
        .http
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("&lt;b&gt;Lamp&lt;/b&gt;") && !html.contains("<b>Lamp</b>"));

    // Blacklisting applies on the very next request.
    let (s, _) = app
        .post(
            Some(&admin),
            "/api/v1/admin/blacklist",
            json!({"user": "nobody-here", "reason": "x"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let name = sqlx::query_scalar::<_, String>("SELECT name FROM users WHERE id = ?")
        .bind(shoppers[1].id)
        .fetch_one(&app.db.pool)
        .await
        .unwrap();
    let (s, _) = app
        .post(
            Some(&admin),
            "/api/v1/admin/blacklist",
            json!({"user": name, "reason": "bot"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, v) = app
        .post(
            Some(&shoppers[1]),
            &format!("/api/v1/products/{id}/captcha"),
            json!({}),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::FORBIDDEN, "blacklisted"));

    // Stock cannot drop below what is sold; a sold product cannot be deleted; orders export.
    let shrink = json!({"name": "Lamp", "price": "12.50", "image": "", "stock": "0",
                        "sale_start": (now - 1000).to_string(), "sale_end": (now + 3_600_000).to_string()});
    assert_eq!(
        app.put_product(&admin, id, &shrink).await,
        StatusCode::CONFLICT
    );
    let r = app
        .http
        .delete(app.url(&format!("/api/v1/admin/products/{id}")))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = app
        .http
        .get(app.url(&format!("/api/v1/admin/orders.csv?product_id={id}")))
        .header("cookie", &admin.cookie)
        .send()
        .await
        .unwrap();
    let csv = r.text().await.unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    let (_, page) = app
        .get(
            Some(&admin),
            &format!("/api/v1/admin/orders?product_id={id}&status=reserved"),
        )
        .await;
    assert_eq!(page["total"], 1);

    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("flash_purchases_total{outcome=\"accepted\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!("flash_stock_left{{product=\"{id}\"}} 4")),
        "{metrics}"
    );
    app.stop().await;
}
