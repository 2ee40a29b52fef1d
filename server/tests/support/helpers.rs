//! `spawn_app()`: a real server on port 0 with its own SQLite file, plus helpers that act
//! like shoppers over HTTP; `spawn_in(Mode::Rabbit, …)` and the MariaDB / RabbitMQ helpers for the
//! `services` tests, which say how to start those when they cannot reach them.

use crate::backends;
use app::model::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::config::Config;
use server::repositories::products::{self, NewProduct};
use server::repositories::Db;
use server::services::cookie::CookieCodec;
use server::startup::Application;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const SECRET: &str = "integration-test-secret-integration-test";
pub const ANSWER: &str = "test-answer";

pub struct TestApp {
    pub base: String,
    pub db: Db,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A number no other call in this process gets: for names of databases, queues, users.
pub fn next_id() -> u64 {
    NEXT.fetch_add(1, Ordering::Relaxed)
}

pub fn fresh_sqlite_url() -> String {
    let dir = std::env::temp_dir().join("flash-sale-tests");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let n = next_id();
    let path = dir.join(format!(
        "t{}-{}-{n}.db",
        std::process::id(),
        server::now_ms()
    ));
    format!("sqlite://{}?mode=rwc", path.display())
}

/// Where the sale runs: the embedded default, or RabbitMQ + MariaDB (the real services).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Embedded,
    Rabbit,
}

pub async fn spawn_in(mode: Mode, overrides: &[(&'static str, &str)]) -> TestApp {
    match mode {
        Mode::Embedded => spawn_app(overrides).await,
        Mode::Rabbit => {
            let (amqp, queue) = (backends::amqp_url(), backends::unique_queue());
            let mut env: Vec<(&'static str, &str)> =
                vec![("AMQP_URL", &amqp), ("FLASH_QUEUE", &queue)];
            env.extend_from_slice(overrides);
            spawn_app_on(&backends::fresh_mysql_url().await, &env).await
        }
    }
}

pub fn base_env() -> Vec<(&'static str, String)> {
    vec![
        ("LEPTOS_SITE_ADDR", "127.0.0.1:0".into()),
        ("FLASH_SECRET", SECRET.into()),
        ("FLASH_TEST_MODE", "1".into()),
        ("FLASH_CAPTCHA_TEST_ANSWER", ANSWER.into()),
        ("FLASH_RATE_LIMITS", "off".into()),
        ("FLASH_DEMO_DATA", "0".into()),
    ]
}

pub async fn spawn_app(overrides: &[(&'static str, &str)]) -> TestApp {
    spawn_app_on(&fresh_sqlite_url(), overrides).await
}

pub async fn spawn_app_on(db_url: &str, overrides: &[(&'static str, &str)]) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        server::telemetry::init();
    }
    let mut env: HashMap<&str, String> = base_env().into_iter().collect();
    env.insert("DATABASE_URL", db_url.to_string());
    for (k, v) in overrides {
        env.insert(k, v.to_string());
    }
    let cfg = Config::from_lookup(&|k| env.get(k).cloned()).expect("test config");
    let options = leptos::prelude::LeptosOptions::builder()
        .output_name("flash-sale")
        .site_root("target/site")
        .site_addr(cfg.bind)
        .build();
    let app = Application::build(cfg, options)
        .await
        .expect("server builds");
    let addr = app.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    let db = Db::connect(db_url).await.expect("test db");
    TestApp {
        base: format!("http://{addr}"),
        db,
        http: client(),
        stop: Some(stop),
        task: Some(task),
    }
}

/// The shoppers' HTTP client: keep-alive connections, a generous timeout for debug builds.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

impl TestApp {
    /// A server running in another process (a cluster node), reached over HTTP.
    pub fn remote(base: String, db: Db) -> TestApp {
        TestApp {
            base,
            db,
            http: client(),
            stop: None,
            task: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Graceful stop: drains the queue and hands leased stock back.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }

    /// A crash: the server task is killed where it stands.
    pub async fn kill(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    pub async fn product(
        &self,
        name: &str,
        stock: i64,
        start_offset_ms: i64,
        end_offset_ms: i64,
    ) -> i64 {
        let now = server::now_ms();
        let p = NewProduct {
            name,
            price_cents: 1000,
            image: "/img/gift.svg",
            stock,
            sale_start: now + start_offset_ms,
            sale_end: now + end_offset_ms,
            pay_within_ms: 900_000,
        };
        products::insert(&self.db, &p, now)
            .await
            .expect("insert product")
    }

    pub async fn on_sale(&self, stock: i64) -> i64 {
        self.product("Test product", stock, -60_000, 3_600_000)
            .await
    }

    /// Creates `n` shoppers straight in the database (bulk, like a load tool) and returns
    /// their auth cookies, sealed with the server's secret.
    pub async fn shoppers(&self, n: usize) -> Vec<Shopper> {
        let now = server::now_ms();
        let prefix = format!("s{}x{}", now % 1_000_000, next_id());
        let hash =
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$invalidinvalidinvalidinvalidinvalidinva";
        let codec = CookieCodec::new(SECRET, &[], Duration::from_secs(3600), false);
        let mut out = Vec::with_capacity(n);
        for chunk in (0..n).collect::<Vec<_>>().chunks(200) {
            let mut tx = self.db.pool.begin().await.expect("tx");
            for i in chunk {
                sqlx::query("INSERT INTO users (name, password_hash, role, created_at) VALUES (?, ?, 'shopper', ?)")
                    .bind(format!("{prefix}u{i}"))
                    .bind(hash)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .expect("insert user");
            }
            tx.commit().await.expect("commit");
        }
        let rows = sqlx::query("SELECT id, name FROM users WHERE name LIKE ? ORDER BY id")
            .bind(format!("{prefix}u%"))
            .fetch_all(&self.db.pool)
            .await
            .expect("users");
        for r in rows {
            let id: i64 = sqlx::Row::get(&r, "id");
            let name: String = sqlx::Row::get(&r, "name");
            let claims = codec.claims(id, Role::Shopper, &name, now);
            out.push(Shopper {
                id,
                cookie: format!("flash_auth={}", codec.seal(&claims)),
            });
        }
        out
    }

    /// An admin account (made in the database) with its cookie.
    pub async fn admin(&self) -> Shopper {
        let now = server::now_ms();
        let name = format!("admin{}", next_id());
        let user = server::repositories::users::insert(&self.db, &name, "x", Role::Admin, now)
            .await
            .expect("admin");
        let codec = CookieCodec::new(SECRET, &[], Duration::from_secs(3600), false);
        let claims = codec.claims(user.id, Role::Admin, &name, now);
        Shopper {
            id: user.id,
            cookie: format!("flash_auth={}", codec.seal(&claims)),
        }
    }

    /// An admin's `PUT /api/v1/admin/products/{id}`: the answer's status.
    pub async fn put_product(&self, admin: &Shopper, id: i64, form: &Value) -> StatusCode {
        self.http
            .put(self.url(&format!("/api/v1/admin/products/{id}")))
            .header("cookie", &admin.cookie)
            .json(form)
            .send()
            .await
            .unwrap()
            .status()
    }

    pub async fn order_count(&self, product_id: i64) -> (i64, i64) {
        server::repositories::orders::tally(&self.db, product_id)
            .await
            .expect("tally")
    }

    /// Waits (up to a minute) for the consumer to write `n` orders; returns the final tally.
    pub async fn orders_settle(&self, product_id: i64, n: i64) -> (i64, i64) {
        for _ in 0..600 {
            if self.order_count(product_id).await.0 >= n {
                // A little longer, to catch anything written twice.
                tokio::time::sleep(Duration::from_millis(300)).await;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.order_count(product_id).await
    }

    pub async fn get(&self, shopper: Option<&Shopper>, path: &str) -> (StatusCode, Value) {
        let mut req = self.http.get(self.url(path));
        if let Some(s) = shopper {
            req = req.header("cookie", &s.cookie);
        }
        answer(req.send().await.expect("request")).await
    }

    pub async fn post(
        &self,
        shopper: Option<&Shopper>,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let mut req = self.http.post(self.url(path)).json(&body);
        if let Some(s) = shopper {
            req = req.header("cookie", &s.cookie);
        }
        answer(req.send().await.expect("request")).await
    }

    /// Captcha → verify (with the test answer) → the pass.
    pub async fn pass(&self, s: &Shopper, product_id: i64) -> String {
        let (status, c) = self
            .post(
                Some(s),
                &format!("/api/v1/products/{product_id}/captcha"),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "captcha: {c}");
        let (status, p) = self
            .post(
                Some(s),
                &format!("/api/v1/products/{product_id}/captcha/verify"),
                json!({"captcha_id": c["captcha_id"], "answer": ANSWER}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "verify: {p}");
        p["pass"].as_str().expect("pass").to_string()
    }

    pub async fn purchase(&self, s: &Shopper, product_id: i64, pass: &str) -> (StatusCode, Value) {
        self.post(
            Some(s),
            &format!("/api/v1/products/{product_id}/purchase"),
            json!({ "pass": pass }),
        )
        .await
    }

    /// `POST /api/v1/login`: the shopper its `Set-Cookie` carries (id unknown: 0).
    pub async fn login(&self, name: &str, password: &str) -> Shopper {
        let body = json!({"name": name, "password": password});
        let r = self.http.post(self.url("/api/v1/login")).json(&body);
        let r = r.send().await.expect("login");
        assert_eq!(r.status(), StatusCode::OK, "login of {name}");
        Shopper {
            id: 0,
            cookie: set_cookie(&r),
        }
    }

    pub async fn buy(&self, s: &Shopper, product_id: i64) -> (StatusCode, Value) {
        let pass = self.pass(s, product_id).await;
        self.purchase(s, product_id, &pass).await
    }
}

pub struct Shopper {
    pub id: i64,
    pub cookie: String,
}

/// The `name=value` of an answer's `Set-Cookie`.
pub fn set_cookie(r: &reqwest::Response) -> String {
    let header = r.headers()["set-cookie"].to_str().expect("ascii cookie");
    header.split(';').next().unwrap_or_default().to_string()
}

async fn answer(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub fn code(v: &Value) -> &str {
    v["error"].as_str().unwrap_or("")
}
