//! Defaults that fail closed: purchases linked from other sites, the metrics, revoked logins,
//! and configurations that do not start.

use crate::abuse::{from, register};
use crate::helpers::{code, spawn_app};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

/// Behind a trusted proxy is no development: no test mode.
pub const NO_TEST_MODE: [(&str, &str); 2] =
    [("FLASH_TEST_MODE", "0"), ("FLASH_CAPTCHA_TEST_ANSWER", "")];

#[tokio::test]
async fn a_cross_site_purchase_link_spends_nothing() {
    let app = spawn_app(&[]).await;
    let p = app.on_sale(5).await;
    let shopper = &app.shoppers(1).await[0];
    let check = app
        .http
        .get(app.url(&format!("/check?productID={p}")))
        .header("cookie", &shopper.cookie)
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(check.status(), StatusCode::FORBIDDEN);
    // A purchase without a good pass is refused before it takes the shopper's 10 s.
    let (s, v) = app.purchase(shopper, p, "forged-pass").await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "captcha_required"),
        "{v}"
    );
    let (s, v) = app.buy(shopper, p).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
}

#[tokio::test]
async fn metrics_are_for_this_machine_or_the_token() {
    let token = "metrics-token-0123456789";
    let app = spawn_app(&[
        ("FLASH_TRUSTED_PROXIES", "127.0.0.9"),
        ("FLASH_METRICS_TOKEN", token),
        NO_TEST_MODE[0],
        NO_TEST_MODE[1],
    ])
    .await;
    let local = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(local.status(), StatusCode::OK);
    let outside = |bearer: Option<&str>| {
        let mut req = from("127.0.0.9")
            .get(app.url("/metrics"))
            .header("x-forwarded-for", "203.0.113.1");
        if let Some(b) = bearer {
            req = req.header("authorization", format!("Bearer {b}"));
        }
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(outside(None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(outside(Some("guess")).await, StatusCode::UNAUTHORIZED);
    assert_eq!(outside(Some(token)).await, StatusCode::OK);
    // Through a proxy on this machine, a client is not local, whatever the proxy says.
    let r = from("127.0.0.9")
        .get(app.url("/metrics"))
        .header("x-forwarded-for", "127.0.0.1");
    assert_eq!(r.send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let untokened = spawn_app(&[
        ("FLASH_TRUSTED_PROXIES", "127.0.0.9"),
        NO_TEST_MODE[0],
        NO_TEST_MODE[1],
    ])
    .await;
    let r = from("127.0.0.9")
        .get(untokened.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.1");
    assert_eq!(r.send().await.unwrap().status(), StatusCode::FORBIDDEN);
    for _ in 0..20 {
        assert_eq!(app.get(None, "/readyz").await.0, StatusCode::OK);
    }
}

#[tokio::test]
async fn revoked_logins_stop_counting() {
    let app = spawn_app(&[]).await;
    let admin = app.admin().await;
    let name = register(&app, "a-long-password").await;
    let me = app.login(&name, "a-long-password").await;
    assert_eq!(app.get(Some(&me), "/api/v1/me").await.0, StatusCode::OK);
    // Logins count from their millisecond on: let this one be older than the revocation.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let (s, _) = app
        .post(
            Some(&me),
            "/api/v1/admin/revocations",
            json!({"user": name}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a shopper revokes nothing");
    let (s, v) = app
        .post(
            Some(&admin),
            "/api/v1/admin/revocations",
            json!({"user": name}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(
        app.get(Some(&me), "/api/v1/me").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, v) = app
        .post(
            Some(&admin),
            "/api/v1/admin/revocations",
            json!({"user": "nobody-here"}),
        )
        .await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, "bad_request"),
        "{v}"
    );
    // A login after the revocation counts.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = app.login(&name, "a-long-password").await;
    assert_eq!(app.get(Some(&again), "/api/v1/me").await.0, StatusCode::OK);
}

/// `server serve` / `server node` refuse to start where the defaults would fail open.
#[test]
fn unsafe_configurations_do_not_start() {
    let run = |role: &str, env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_server"));
        cmd.arg(role)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("the server binary runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let public = ("LEPTOS_SITE_ADDR", "0.0.0.0:0");
    let nodes = [
        ("FLASH_NODES", "a=http://10.0.0.1:3000"),
        ("FLASH_NODE_ID", "a"),
        ("AMQP_URL", "amqp://127.0.0.1:1"),
    ];
    let (ok, err) = run("serve", &[public]);
    assert!(!ok && err.contains("FLASH_SECRET"), "{err}");
    let (ok, err) = run("node", &[&[public][..], &nodes].concat());
    assert!(!ok && err.contains("FLASH_SECRET"), "{err}");
    let secret = ("FLASH_SECRET", "0123456789abcdef0123456789abcdef");
    let production = ("FLASH_ENV", "production");
    let (ok, err) = run("serve", &[production, secret, ("FLASH_TEST_MODE", "1")]);
    assert!(!ok && err.contains("FLASH_TEST_MODE"), "{err}");
    let (ok, err) = run("serve", &[production, secret, ("FLASH_DEMO_DATA", "1")]);
    assert!(!ok && err.contains("FLASH_DEMO_DATA"), "{err}");
}
