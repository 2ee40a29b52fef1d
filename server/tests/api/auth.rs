use crate::helpers::{code, spawn_app};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn register_login_authenticated_request_tamper_and_logout() {
    let app = spawn_app(&[]).await;
    let jar = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let creds = json!({"name": "dora_1", "password": "correct-horse-1"});

    let r = jar
        .post(app.url("/api/v1/register"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    for flag in [
        "flash_auth=",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=",
    ] {
        assert!(set.contains(flag), "{flag} missing in {set}");
    }

    let dup = jar
        .post(app.url("/api/v1/register"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(dup.status(), StatusCode::CONFLICT);

    let fresh = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let r = fresh
        .post(app.url("/api/v1/login"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let me: serde_json::Value = fresh
        .get(app.url("/api/v1/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["name"], "dora_1");
    assert_eq!(me["role"], "shopper");
    let cookie = crate::helpers::set_cookie(&r);

    // One changed character anywhere in the value: 401.
    let value = cookie.trim_start_matches("flash_auth=");
    let mut bytes = value.as_bytes().to_vec();
    let mid = bytes.len() / 2;
    bytes[mid] = if bytes[mid] == b'A' { b'B' } else { b'A' };
    let tampered = format!("flash_auth={}", String::from_utf8(bytes).unwrap());
    let r = app
        .http
        .get(app.url("/api/v1/orders"))
        .header("cookie", tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "unauthenticated");
    let r = app
        .http
        .get(app.url("/api/v1/orders"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let r = fresh.post(app.url("/api/v1/logout")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    let r = fresh.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test]
async fn bad_credentials_and_names_are_refused_without_hints() {
    let app = spawn_app(&[]).await;
    let (s, _) = app
        .post(
            None,
            "/api/v1/register",
            json!({"name": "erin", "password": "correct-horse-1"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s1, wrong_pw) = app
        .post(
            None,
            "/api/v1/login",
            json!({"name": "erin", "password": "nope-nope-1"}),
        )
        .await;
    let (s2, no_user) = app
        .post(
            None,
            "/api/v1/login",
            json!({"name": "nobody", "password": "nope-nope-1"}),
        )
        .await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(
        wrong_pw, no_user,
        "the answer must not tell which part was wrong"
    );
    for name in ["x", "has space", "<b>x</b>", &"n".repeat(40)] {
        let (s, v) = app
            .post(
                None,
                "/api/v1/register",
                json!({"name": name, "password": "correct-horse-1"}),
            )
            .await;
        assert_eq!(
            (s, code(&v)),
            (StatusCode::BAD_REQUEST, "bad_request"),
            "{name}"
        );
    }
    let (s, v) = app
        .post(
            None,
            "/api/v1/register",
            json!({"name": "frank", "password": "short"}),
        )
        .await;
    assert_eq!((s, code(&v)), (StatusCode::BAD_REQUEST, "bad_request"));
    app.stop().await;
}

#[tokio::test]
async fn repeated_failed_logins_are_slowed() {
    let app = spawn_app(&[]).await;
    let mut limited = 0;
    for _ in 0..15 {
        let (s, v) = app
            .post(
                None,
                "/api/v1/login",
                json!({"name": "target", "password": "guess-guess"}),
            )
            .await;
        if s == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(code(&v), "rate_limited");
            limited += 1;
        }
    }
    assert!(limited >= 5, "only {limited} of 15 attempts were limited");
    app.stop().await;
}

/// On a ring, a login also sets the balancer's routing cookie: the shopper's owner node, as the
/// ring places them (what `server balancer` maps to that node's address).
#[tokio::test]
async fn a_login_on_a_ring_names_the_shoppers_owner_node() {
    use server::services::ring::{user_key, Ring};
    let nodes = "node-a=http://127.0.0.1:9,node-b=http://127.0.0.1:10,node-c=http://127.0.0.1:11";
    let app = spawn_app(&[
        ("FLASH_NODES", nodes),
        ("FLASH_NODE_ID", "node-a"),
        (
            "FLASH_INTERNAL_SECRET",
            "internal-secret-internal-secret-internal",
        ),
    ])
    .await;
    let ring = Ring::new(&["node-a", "node-b", "node-c"], 2048);
    let mut seen = std::collections::HashSet::new();
    for i in 0..12 {
        let creds = json!({"name": format!("ring_{i}"), "password": "correct-horse-1"});
        let r = app
            .http
            .post(app.url("/api/v1/register"))
            .json(&creds)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let cookies: Vec<String> = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        let user: serde_json::Value = r.json().await.unwrap();
        let owner = ring.owner(user_key(user["id"].as_i64().unwrap())).unwrap();
        let expected = format!("flash_node={}", ["node-a", "node-b", "node-c"][owner]);
        let route = cookies.iter().find(|c| c.starts_with("flash_node="));
        assert!(
            route.is_some_and(|c| c.starts_with(&format!("{expected};")) && c.contains("HttpOnly")),
            "{cookies:?}"
        );
        assert!(cookies.iter().any(|c| c.starts_with("flash_auth=")));
        seen.insert(owner);
    }
    assert!(seen.len() > 1, "the shoppers spread over the ring");
    // A single node sets none.
    let single = spawn_app(&[]).await;
    let creds = json!({"name": "alone_1", "password": "correct-horse-1"});
    let r = single
        .http
        .post(single.url("/api/v1/register"))
        .json(&creds)
        .send()
        .await
        .unwrap();
    assert!(r
        .headers()
        .get_all("set-cookie")
        .iter()
        .all(|v| !v.to_str().unwrap().starts_with("flash_node=")));
    app.stop().await;
    single.stop().await;
}
