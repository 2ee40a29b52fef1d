use super::*;
use crate::cookie::{cookie_name, cookie_value};
use crate::garbage::*;
use crate::pass::any_text;

// ---------------------------------------------------------------------------------------------
// The purchase request, over HTTP against a real server in this process

pub(crate) struct Server {
    pub(crate) rt: tokio::runtime::Runtime,
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    db: server::repositories::Db,
    pub(crate) product: i64,
    /// Cookie of a shopper who exists in the database.
    pub(crate) cookie: String,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static NEXT_USER: AtomicU64 = AtomicU64::new(0);

/// One server for the whole file (tests run in parallel threads and share it): embedded queue,
/// a fresh SQLite file, test mode (fixed captcha answer), no token buckets, no per-user
/// interval (so every request reaches the check under test).
pub(crate) fn server() -> &'static Server {
    SERVER.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = std::env::temp_dir().join("flash-sale-tests");
        std::fs::create_dir_all(&dir).expect("temp dir");
        let db_url = format!(
            "sqlite://{}?mode=rwc",
            dir.join(format!(
                "fuzz-{}-{}.db",
                std::process::id(),
                server::now_ms()
            ))
            .display()
        );
        let env: HashMap<&str, String> = [
            ("LEPTOS_SITE_ADDR", "127.0.0.1:0"),
            ("DATABASE_URL", db_url.as_str()),
            ("FLASH_SECRET", SECRET),
            ("FLASH_TEST_MODE", "1"),
            ("FLASH_CAPTCHA_TEST_ANSWER", ANSWER),
            ("FLASH_RATE_LIMITS", "off"),
            ("FLASH_DEMO_DATA", "0"),
            ("FLASH_USER_INTERVAL_MS", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect();
        let cfg = Config::from_lookup(&|k| env.get(k).cloned()).expect("config");
        let (base, db, product, cookie) = rt.block_on(async {
            let options = leptos::prelude::LeptosOptions::builder()
                .output_name("flash-sale")
                .site_root("target/site")
                .site_addr(cfg.bind)
                .build();
            let app = server::startup::Application::build(cfg, options)
                .await
                .expect("server builds");
            let base = format!("http://{}", app.local_addr());
            tokio::spawn(app.run_until(std::future::pending()));
            let db = server::repositories::Db::connect(&db_url)
                .await
                .expect("db");
            let now = server::now_ms();
            let product = server::repositories::products::insert(
                &db,
                &server::repositories::products::NewProduct {
                    name: "Fuzzed product",
                    price_cents: 100,
                    image: "/img/gift.svg",
                    stock: 1_000_000,
                    sale_start: now - 60_000,
                    sale_end: now + 24 * 3_600_000,
                    pay_within_ms: 900_000,
                },
                now,
            )
            .await
            .expect("product");
            let cookie = shopper_cookie(&db).await;
            (base, db, product, cookie)
        });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Server {
            rt,
            base,
            http,
            db,
            product,
            cookie,
        }
    })
}

/// A new shopper in the database and its cookie, sealed with the server's secret.
async fn shopper_cookie(db: &server::repositories::Db) -> String {
    let now = server::now_ms();
    let name = format!(
        "fuzz{}x{}",
        std::process::id(),
        NEXT_USER.fetch_add(1, Ordering::Relaxed)
    );
    let user = server::repositories::users::insert(db, &name, "no-password", Role::Shopper, now)
        .await
        .expect("user");
    let codec = CookieCodec::new(SECRET, &[], HOUR, false);
    let claims = codec.claims(user.id, Role::Shopper, &name, now);
    format!("{COOKIE_NAME}={}", codec.seal(&claims))
}

/// One request: (status, body text).
struct Req {
    method: Method,
    path: String,
    content_type: Option<String>,
    cookie: Option<String>,
    body: Vec<u8>,
}

fn send(s: &Server, r: Req) -> (StatusCode, String) {
    s.rt.block_on(async {
        let mut b = s
            .http
            .request(r.method, format!("{}{}", s.base, r.path))
            .body(r.body);
        if let Some(ct) = r.content_type {
            b = b.header("content-type", ct);
        }
        if let Some(c) = r.cookie {
            b = b.header("cookie", c);
        }
        let resp = b.send().await.expect("the server answers");
        let status = resp.status();
        (status, resp.text().await.unwrap_or_default())
    })
}

fn post_json(s: &Server, path: &str, body: &Value, cookie: &str) -> (StatusCode, Value) {
    let (status, text) = send(
        s,
        Req {
            method: Method::POST,
            path: path.to_string(),
            content_type: Some("application/json".into()),
            cookie: Some(cookie.to_string()),
            body: serde_json::to_vec(body).expect("json"),
        },
    );
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

proptest! {
    #![proptest_config(http_config(1000))]

    /// Garbage sent to the API's purchase, verify and captcha routes: a 4xx in the API's error
    /// shape, never a 5xx, never a purchase. Only the captcha route may say 200, and only for
    /// the real product with a genuine cookie (it ignores the body).
    #[test]
    fn api_routes_answer_4xx_to_garbage(
        route in prop::sample::select(vec!["purchase", "captcha/verify", "captcha"]),
        id in product_segment(server().product),
        body in body(),
        content_type in content_type(),
        cookie in cookie_for_http(&server().cookie),
    ) {
        let s = server();
        // Whitespace around a cookie's value is not part of it: a padded genuine cookie is genuine.
        let value = |c: &str| c.split_once('=').map(|(n, v)| (n.to_string(), v.trim().to_string()));
        let genuine = cookie.as_deref().and_then(value) == value(&s.cookie);
        let (status, text) = send(s, Req {
            method: Method::POST,
            path: format!("/api/v1/products/{id}/{route}"),
            content_type,
            cookie,
            body,
        });
        if route == "captcha" && status == StatusCode::OK {
            // "+1" and "01" spell 1 too.
            prop_assert!(genuine && id.parse::<i64>() == Ok(s.product), "200 for {id}");
            prop_assert!(serde_json::from_str::<Value>(&text).is_ok_and(|v| v["captcha_id"].is_string()));
        } else {
            prop_assert!(status.is_client_error(), "{} {}", status, text);
            prop_assert!(is_api_error(&text), "not the error shape: {}", text);
        }
    }

    /// The live stream's route with garbage ids, methods and cookies: a 4xx in the API's error
    /// shape, never a 5xx; a stream (200, `text/event-stream`) only for the real product, with
    /// or without a good cookie (a page needs no login).
    #[test]
    fn the_live_route_answers_4xx_to_garbage(
        id in product_segment(server().product),
        method in prop::sample::select(vec![Method::GET, Method::POST, Method::PUT]),
        cookie in cookie_for_http(&server().cookie),
    ) {
        let s = server();
        let (status, kind, text) = s.rt.block_on(async {
            let mut b = s.http.request(method.clone(), format!("{}/api/v1/products/{id}/live", s.base));
            if let Some(c) = &cookie {
                b = b.header("cookie", c);
            }
            let resp = b.send().await.expect("the server answers");
            let status = resp.status();
            let kind = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            // A stream never ends: its head is enough, and dropping it closes the page.
            let text = if status == StatusCode::OK { String::new() } else { resp.text().await.unwrap_or_default() };
            (status, kind, text)
        });
        if status == StatusCode::OK {
            prop_assert!(method == Method::GET && id.parse::<i64>() == Ok(s.product), "200 for {method} {id}");
            prop_assert_eq!(kind, "text/event-stream");
        } else {
            prop_assert!(status.is_client_error(), "{} {}", status, text);
            prop_assert!(is_api_error(&text), "not the error shape: {}", text);
        }
    }

    /// The server functions behind the same steps, fed well-formed and broken form bodies,
    /// raw bytes, other content types and other methods: never a 5xx, never a purchase or a
    /// pass; only a genuine shopper asking a captcha may get a 200.
    #[test]
    fn server_functions_answer_4xx_to_garbage(
        function in prop::sample::select(vec!["purchase", "captcha_verify", "captcha"]),
        method in prop::sample::select(vec![Method::POST, Method::POST, Method::POST, Method::GET, Method::PUT, Method::DELETE, Method::PATCH]),
        shape in 0u8..4,
        fields in (product_segment(server().product), form_text(), form_text()),
        pairs in vec((
            prop_oneof![Just("product_id".to_string()), Just("pass".to_string()), Just("captcha_id".to_string()), Just("answer".to_string()), "[a-z_%\\[\\]]{0,10}"],
            prop_oneof![product_segment(server().product), "[ -~]{0,40}", form_text()],
        ), 0..5),
        raw in vec(any::<u8>(), 0..300),
        content_type in prop_oneof![
            4 => Just(Some("application/x-www-form-urlencoded".to_string())),
            2 => content_type(),
        ],
        cookie in cookie_for_http(&server().cookie),
    ) {
        let s = server();
        let (product, a, b) = fields;
        let body = match (shape, function) {
            (0 | 1, "purchase") => format!("product_id={product}&pass={a}").into_bytes(),
            (0 | 1, "captcha_verify") => format!("product_id={product}&captcha_id={a}&answer={b}").into_bytes(),
            (0 | 1, _) => format!("product_id={product}").into_bytes(),
            (2, _) => pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&").into_bytes(),
            _ => raw,
        };
        let genuine = cookie.as_deref() == Some(s.cookie.as_str());
        let (status, text) = send(s, Req {
            method: method.clone(),
            path: format!("/api/{function}"),
            content_type,
            cookie,
            body,
        });
        prop_assert!(!status.is_server_error(), "{} {} {}", method, status, text);
        if status.is_success() {
            prop_assert!(function == "captcha" && genuine, "{} {}", status, text);
            prop_assert!(serde_json::from_str::<Value>(&text).is_ok_and(|v| v["captcha_id"].is_string()));
        } else {
            prop_assert!(status.is_client_error(), "{} {}", status, text);
        }
    }

}

proptest! {
    #![proptest_config(http_config(256))]

    /// A real shopper's captcha → pass, then near misses of that pass, another shopper's
    /// pass and a wrong answer, over the API and the server function: all refused with 400;
    /// the real pass then buys once, and its replay is refused.
    #[test]
    fn real_pass_near_misses_refused_over_http(e in edit(), flip in (0usize..48, 0u8..8), wrong in any_text(), door in 0u8..2) {
        let s = server();
        let (me, other) = s.rt.block_on(async { (shopper_cookie(&s.db).await, shopper_cookie(&s.db).await) });
        let p = s.product;
        let pass_of = |cookie: &str| {
            let (st, c) = post_json(s, &format!("/api/v1/products/{p}/captcha"), &json!({}), cookie);
            assert_eq!(st, StatusCode::OK, "{c}");
            let (st, v) = post_json(s, &format!("/api/v1/products/{p}/captcha/verify"),
                &json!({"captcha_id": c["captcha_id"], "answer": ANSWER}), cookie);
            assert_eq!(st, StatusCode::OK, "{v}");
            v["pass"].as_str().expect("pass").to_string()
        };
        // A wrong answer burns the captcha (one over 32 bytes cannot be right and is refused
        // as a bad request before the captcha is looked up).
        prop_assume!(!wrong.trim().eq_ignore_ascii_case(ANSWER));
        let (_, c) = post_json(s, &format!("/api/v1/products/{p}/captcha"), &json!({}), &me);
        let verify = format!("/api/v1/products/{p}/captcha/verify");
        let (st, v) = post_json(s, &verify, &json!({"captcha_id": c["captcha_id"], "answer": wrong}), &me);
        prop_assert_eq!(st, StatusCode::BAD_REQUEST, "{}", v);
        if wrong.len() <= 32 {
            prop_assert_eq!(v["error"].as_str(), Some("captcha_invalid"));
            let (st, _) = post_json(s, &verify, &json!({"captcha_id": c["captcha_id"], "answer": ANSWER}), &me);
            prop_assert_eq!(st, StatusCode::BAD_REQUEST);
        }

        let real = pass_of(&me);
        let theirs = pass_of(&other);
        let mut raw = dec(&real);
        raw[flip.0] ^= 1 << flip.1;
        let mut near = vec![enc(&raw), theirs];
        near.extend(apply(&real, &e));
        let buy = |pass: &str| -> (StatusCode, String) {
            if door == 0 {
                let (st, v) = post_json(s, &format!("/api/v1/products/{p}/purchase"), &json!({"pass": pass}), &me);
                (st, v.to_string())
            } else {
                let form = format!("product_id={p}&pass={}", urlencode(pass));
                send(s, Req {
                    method: Method::POST,
                    path: "/api/purchase".into(),
                    content_type: Some("application/x-www-form-urlencoded".into()),
                    cookie: Some(me.clone()),
                    body: form.into_bytes(),
                })
            }
        };
        for bad in &near {
            let (st, text) = buy(bad);
            prop_assert_eq!(st, StatusCode::BAD_REQUEST, "{:?}: {}", bad, text);
            prop_assert!(text.contains("captcha_required"), "{}", text);
        }
        let (st, text) = buy(&real);
        prop_assert_eq!(st, if door == 0 { StatusCode::ACCEPTED } else { StatusCode::OK }, "{}", text);
        let (st, text) = buy(&real);
        prop_assert_eq!(st, StatusCode::BAD_REQUEST, "replay: {}", text);
    }
}

/// Arbitrary `Cookie` headers on a route that needs a login: 401, never a user, never a 5xx.
#[test]
fn http_arbitrary_cookies_are_unauthenticated() {
    let s = server();
    let cfg = http_config(1000);
    let mut runner = proptest::test_runner::TestRunner::new(cfg);
    let strategy = prop_oneof![
        vec((cookie_name(), cookie_value()), 0..6).prop_map(|pairs| pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")),
        "[ -~]{0,300}",
        edit().prop_map(|e| {
            let value = &s.cookie[COOKIE_NAME.len() + 1..];
            let edited = apply(value, &e).unwrap_or_default();
            let edited: String = edited.chars().filter(|c| (' '..='~').contains(c)).collect();
            format!("{COOKIE_NAME}={edited}")
        }),
    ];
    let result = runner.run(&strategy, |cookie| {
        prop_assume!(cookie.trim() != s.cookie && !cookie.contains(&s.cookie));
        let (status, text) = send(
            s,
            Req {
                method: Method::GET,
                path: "/api/v1/me".into(),
                content_type: None,
                cookie: Some(cookie),
                body: Vec::new(),
            },
        );
        prop_assert_eq!(status, StatusCode::UNAUTHORIZED, "{}", text);
        prop_assert!(is_api_error(&text));
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    // And the genuine cookie does log in: the property above is not vacuous.
    let (status, _) = send(
        s,
        Req {
            method: Method::GET,
            path: "/api/v1/me".into(),
            content_type: None,
            cookie: Some(s.cookie.clone()),
            body: Vec::new(),
        },
    );
    assert_eq!(status, StatusCode::OK);
}
