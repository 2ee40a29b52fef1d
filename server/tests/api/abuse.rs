//! Abuse at the door, each through HTTP with the token buckets on: an anonymous flood, one greedy
//! shopper, one flooding address, forwarding headers, password guessing, captcha drawings. The
//! defaults that fail closed are `lockdown.rs`.

use crate::helpers::{code, spawn_app, TestApp};
use reqwest::StatusCode;
use serde_json::json;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A client whose connections leave from `ip` (any of 127.0.0.0/8 reaches the server).
pub fn from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().ok())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Statuses of `n` GETs of `path` sent 16 at a time.
async fn flood(
    app: &TestApp,
    http: &reqwest::Client,
    path: &str,
    n: usize,
    xff: Option<&str>,
) -> BTreeMap<u16, usize> {
    let mut tally = BTreeMap::new();
    for _ in 0..n.div_ceil(16) {
        let sends = (0..16).map(|_| {
            let mut req = http.get(app.url(path));
            if let Some(x) = xff {
                req = req.header("x-forwarded-for", x);
            }
            req.send()
        });
        for r in futures::future::join_all(sends).await {
            *tally
                .entry(r.map_or(0, |r| r.status().as_u16()))
                .or_default() += 1;
        }
    }
    tally
}

#[tokio::test]
async fn an_anonymous_flood_and_a_greedy_shopper_cost_the_others_nothing() {
    // A global purchase bucket small enough for the flood to empty it, if it could.
    let app = spawn_app(&[
        ("FLASH_RATE_LIMITS", "on"),
        ("FLASH_PURCHASE_BURST", "60"),
        ("FLASH_PURCHASE_PERIOD_US", "100000"),
    ])
    .await;
    let p = app.on_sale(10).await;
    let shoppers = app.shoppers(2).await;
    let (honest, greedy) = (&shoppers[0], &shoppers[1]);
    let started = Instant::now();
    let anonymous = async {
        let http = from("127.0.0.2");
        let mut all = BTreeMap::new();
        while started.elapsed() < Duration::from_secs(2) {
            for (k, n) in flood(&app, &http, &format!("/check?productID={p}"), 64, None).await {
                *all.entry(k).or_insert(0) += n;
            }
        }
        all
    };
    // Purchases with forged passes: each one the door lets through takes a global token.
    let greed = async {
        let mut refused = 0;
        for _ in 0..100 {
            let path = format!("/api/v1/products/{p}/purchase");
            let (s, v) = app
                .post(Some(greedy), &path, json!({"pass": "forged"}))
                .await;
            refused +=
                usize::from(s == StatusCode::TOO_MANY_REQUESTS && code(&v) == "rate_limited");
        }
        refused
    };
    let buyer = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        app.buy(honest, p).await
    };
    let (anonymous, refused, (status, outcome)) = tokio::join!(anonymous, greed, buyer);
    assert_eq!(
        anonymous.keys().copied().collect::<Vec<_>>(),
        vec![401],
        "{anonymous:?}"
    );
    assert!(
        refused >= 75,
        "the greedy shopper was held to their share: {refused} refused"
    );
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "the honest shopper bought: {outcome}"
    );
}

#[tokio::test]
async fn a_flood_of_page_loads_from_one_address_leaves_another_alone() {
    let app = spawn_app(&[
        ("FLASH_RATE_LIMITS", "on"),
        ("FLASH_PAGE_BURST", "200"),
        ("FLASH_SHOPPER_PAGE_BURST", "3"),
        ("FLASH_SHOPPER_PAGE_PERIOD_US", "100000000"),
    ])
    .await;
    // An address is worth 10 shoppers: 30 pages, then one every 10 s.
    let flooder = flood(&app, &from("127.0.0.3"), "/login", 304, None).await;
    let served = flooder.get(&200).copied().unwrap_or(0);
    assert!((30..=31).contains(&served), "{flooder:?}");
    assert_eq!(
        flooder.get(&429).copied().unwrap_or(0),
        304 - served,
        "{flooder:?}"
    );
    let other = flood(&app, &from("127.0.0.4"), "/login", 16, None).await;
    assert_eq!(other.get(&200), Some(&16), "{other:?}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_shoppers_are_limited_one_by_one() {
    let app = spawn_app(&[
        ("FLASH_RATE_LIMITS", "on"),
        ("FLASH_TRUSTED_PROXIES", "127.0.0.5"),
        crate::lockdown::NO_TEST_MODE[0],
        crate::lockdown::NO_TEST_MODE[1],
        ("FLASH_SHOPPER_READ_BURST", "2"),
        ("FLASH_SHOPPER_READ_PERIOD_US", "100000000"),
    ])
    .await;
    let proxy = from("127.0.0.5");
    let path = "/api/v1/products";
    let one = flood(&app, &proxy, path, 32, Some("203.0.113.7")).await;
    assert_eq!(one.get(&200), Some(&20), "{one:?}");
    let another = flood(&app, &proxy, path, 16, Some("203.0.113.8")).await;
    assert_eq!(another.get(&200), Some(&16), "{another:?}");
    // Anyone else's forwarding headers are ignored: their own address is the client.
    let liar = from("127.0.0.6");
    let a = flood(&app, &liar, path, 16, Some("198.51.100.1")).await;
    let b = flood(&app, &liar, path, 16, Some("198.51.100.2")).await;
    assert_eq!(a.get(&200).unwrap_or(&0) + b.get(&200).unwrap_or(&0), 20);

    // Password guessing through the proxy throttles the guesser, not the proxy's other clients.
    let name = register(&app, "correct-horse-battery").await;
    let login = |ip: &'static str, password: &'static str| {
        let (proxy, url, name) = (proxy.clone(), app.url("/api/v1/login"), name.clone());
        async move {
            let body = json!({"name": name, "password": password});
            let r = proxy
                .post(url)
                .header("x-forwarded-for", ip)
                .json(&body)
                .send();
            r.await.unwrap().status()
        }
    };
    let mut guesses = Vec::new();
    for _ in 0..40 {
        guesses.push(login("203.0.113.66", "wrong-password").await);
    }
    assert!(
        guesses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{guesses:?}"
    );
    assert_eq!(
        login("203.0.113.9", "correct-horse-battery").await,
        StatusCode::OK
    );
}

pub async fn register(app: &TestApp, password: &str) -> String {
    let name = format!("victim{}", crate::helpers::next_id());
    let body = json!({"name": name, "password": password});
    let (s, v) = app.post(None, "/api/v1/register", body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    name
}

#[tokio::test]
async fn a_throttled_address_cannot_lock_another_out_of_an_account() {
    let app = spawn_app(&[("FLASH_RATE_LIMITS", "on")]).await;
    let name = register(&app, "the-right-password").await;
    let login = |http: reqwest::Client, password: &'static str| {
        let (url, name) = (app.url("/api/v1/login"), name.clone());
        async move {
            let r = http
                .post(url)
                .json(&json!({"name": name, "password": password}));
            r.send().await.unwrap().status()
        }
    };
    let attacker = from("127.0.0.7");
    let mut answers = BTreeMap::new();
    for _ in 0..45 {
        *answers
            .entry(login(attacker.clone(), "wrong-guess").await.as_u16())
            .or_insert(0) += 1;
    }
    // Three free typos, then the wrong passwords and the address's own bucket throttle it.
    assert!(answers.get(&401).is_some_and(|n| *n < 10), "{answers:?}");
    assert!(answers.get(&429).is_some_and(|n| *n > 35), "{answers:?}");
    assert_eq!(
        login(attacker, "the-right-password").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login(from("127.0.0.8"), "the-right-password").await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn captcha_drawings_are_a_handful_per_shopper() {
    let app = spawn_app(&[("FLASH_RATE_LIMITS", "on")]).await;
    let p = app.on_sale(5).await;
    let shoppers = app.shoppers(2).await;
    let path = format!("/api/v1/products/{p}/captcha");
    let mut refused = None;
    for i in 0..12 {
        let (status, v) = app.post(Some(&shoppers[0]), &path, json!({})).await;
        if status != StatusCode::OK {
            refused = Some((i, status, v));
            break;
        }
    }
    let (i, status, v) = refused.expect("a limit");
    assert_eq!(
        (i, status, code(&v)),
        (8, StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert!(
        v["message"].as_str().unwrap().contains("too many captchas"),
        "{v}"
    );
    let (status, _) = app.post(Some(&shoppers[1]), &path, json!({})).await;
    assert_eq!(status, StatusCode::OK, "another shopper is unaffected");
}
