//! Property-based fuzzing (proptest, stable Rust) of what an attacker fully controls:
//!
//! - **the auth cookie**: `CookieCodec::open` and `from_headers` on arbitrary values, arbitrary
//!   `Cookie` headers and near misses of a genuine cookie;
//! - **the captcha**: `verify` with arbitrary ids and answers, `redeem_pass` with arbitrary strings
//!   and every near miss of a real pass (each bit flip, each truncation, extensions, another
//!   user's or product's pass, expired, another secret's), after which the real pass still works,
//!   exactly once;
//! - **the purchase request**: JSON bodies, path ids, content types and cookies sent to the API's
//!   captcha, verify and purchase routes, and form bodies and methods sent to the matching server
//!   functions, against a real server in this process: never a panic, never a 5xx, never a 2xx
//!   for garbage.
//!
//! Each property runs a CI-sized number of cases; `FUZZ_CASES=N` runs N cases of every in-process
//! property and N/10 of every HTTP one (`scripts/fuzz.sh` runs 100,000). A failure is shrunk to a
//! minimal input and saved under `server/tests/proptest-regressions/` so that it is replayed first.

use app::model::Role;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use server::config::Config;
use server::services::captcha::{CaptchaError, Captchas};
use server::services::cookie::{Claims, CookieCodec, COOKIE_NAME};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

const SECRET: &str = "fuzz-test-secret-fuzz-test-secret-fuzz";
const ANSWER: &str = "fuzz-answer";
const NOW: i64 = 1_700_000_000_000;
const HOUR: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------------------------------------
// Case counts

fn env_cases() -> Option<u32> {
    std::env::var("FUZZ_CASES").ok()?.trim().parse().ok()
}

/// Cases of an in-process property: `FUZZ_CASES`, else the CI default.
fn config(ci_default: u32) -> ProptestConfig {
    with_cases(env_cases().unwrap_or(ci_default))
}

/// Cases of a property that talks HTTP (about ten times slower): `FUZZ_CASES / 10`, else the
/// CI default.
fn http_config(ci_default: u32) -> ProptestConfig {
    with_cases(env_cases().map_or(ci_default, |n| (n / 10).max(1)))
}

fn with_cases(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Long runs draw the few rejected inputs (a guess that is the answer) more often.
        max_global_rejects: cases.max(1024),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Shared strategies

fn enc(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn dec(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(s)
        .expect("genuine values are base64")
}

/// One edit of a string that is guaranteed to change it.
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, char),
    Insert(usize, char),
    Delete(usize),
    Truncate(usize),
    Append(String),
    SwapAdjacent(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let ch = prop_oneof![
        4 => proptest::char::ranges(vec!['A'..='Z', 'a'..='z', '0'..='9', '-'..='-', '_'..='_'].into()),
        1 => any::<char>(),
    ];
    prop_oneof![
        (any::<usize>(), ch.clone()).prop_map(|(i, c)| Edit::Replace(i, c)),
        (any::<usize>(), ch).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Truncate),
        "[A-Za-z0-9_=. -]{1,8}".prop_map(Edit::Append),
        any::<usize>().prop_map(Edit::SwapAdjacent),
    ]
}

/// Applies `e` to the ASCII string `s`; `None` when the edit would leave it unchanged.
fn apply(s: &str, e: &Edit) -> Option<String> {
    let mut chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    match e {
        Edit::Replace(i, c) => {
            let i = i % n;
            if chars[i] == *c {
                return None;
            }
            chars[i] = *c;
        }
        Edit::Insert(i, c) => chars.insert(i % (n + 1), *c),
        Edit::Delete(i) => {
            chars.remove(i % n);
        }
        Edit::Truncate(i) => chars.truncate(i % n),
        Edit::Append(tail) => chars.extend(tail.chars()),
        Edit::SwapAdjacent(i) => {
            let i = i % (n - 1);
            if chars[i] == chars[i + 1] {
                return None;
            }
            chars.swap(i, i + 1);
        }
    }
    Some(chars.into_iter().collect())
}

// ---------------------------------------------------------------------------------------------
// The cookie parser

fn codec() -> CookieCodec {
    CookieCodec::new(SECRET, &["an-older-secret".to_string()], HOUR, false)
}

fn claims() -> impl Strategy<Value = Claims> {
    (any::<i64>(), any::<bool>(), "\\PC{0,70}", 0i64..(1 << 42)).prop_map(
        |(id, admin, name, issued)| {
            let role = if admin { Role::Admin } else { Role::Shopper };
            codec().claims(id, role, &name, issued)
        },
    )
}

/// A cookie name as a browser, a lookalike or an attacker may send it.
fn cookie_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(COOKIE_NAME.to_string()),
        1 => Just(format!(" {COOKIE_NAME} ")),
        1 => Just(format!("{COOKIE_NAME}_x")),
        1 => Just(COOKIE_NAME.to_uppercase()),
        2 => "[A-Za-z0-9_.-]{0,12}",
    ]
}

/// A junk cookie value: printable ASCII without `;` (the pair separator).
fn cookie_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -:<-~]{0,60}",
        "[A-Za-z0-9_-]{60,200}",
        vec(any::<u8>(), 0..150).prop_map(|b| enc(&b)),
    ]
}

proptest! {
    #![proptest_config(config(4096))]

    /// Any string: an error, never a panic, never claims.
    #[test]
    fn cookie_open_arbitrary_strings(s in prop_oneof!["\\PC{0,300}", "[A-Za-z0-9_-]{0,400}", ".{0,600}"]) {
        prop_assert!(codec().open(&s, NOW).is_err());
    }

    /// Any single edit of a genuine cookie (a character replaced, inserted, removed, swapped,
    /// the value cut short or extended) is refused; the genuine one still opens.
    #[test]
    fn cookie_near_misses_refused(c in claims(), e in edit()) {
        let codec = codec();
        let sealed = codec.seal(&c);
        prop_assert_eq!(codec.open(&sealed, c.issued_at), Ok(c.clone()));
        if let Some(bad) = apply(&sealed, &e) {
            prop_assert!(codec.open(&bad, c.issued_at).is_err(), "{:?} accepted", e);
        }
    }

    /// A cookie sealed with any other secret never opens (rotation only trusts listed secrets).
    #[test]
    fn cookie_of_another_secret_refused(c in claims(), secret in "\\PC{0,40}") {
        prop_assume!(secret != SECRET && secret != "an-older-secret");
        let foreign = CookieCodec::new(&secret, &[], HOUR, false).seal(&c);
        prop_assert!(codec().open(&foreign, c.issued_at).is_err());
    }

    /// `Cookie` headers made of arbitrary pairs, lookalike names and junk `flash_auth` values,
    /// maybe with the genuine cookie somewhere: it is found exactly when it is among the first
    /// eight `flash_auth` pairs, and nothing else ever authenticates.
    #[test]
    fn cookie_headers_with_junk(
        headers in vec(vec((cookie_name(), cookie_value()), 0..6), 0..4),
        genuine in proptest::option::of((any::<prop::sample::Index>(), any::<prop::sample::Index>())),
        separators in vec(prop_oneof![Just(";"), Just("; "), Just(" ;  ")], 6),
    ) {
        let codec = codec();
        let me = codec.claims(7, Role::Shopper, "fuzz", NOW);
        let mut headers = headers;
        if let Some((h, at)) = genuine {
            if headers.is_empty() {
                headers.push(Vec::new());
            }
            let h = h.index(headers.len());
            let at = at.index(headers[h].len() + 1);
            headers[h].insert(at, (COOKIE_NAME.to_string(), codec.seal(&me)));
        }
        let mut map = axum::http::HeaderMap::new();
        for pairs in &headers {
            let line = pairs
                .iter()
                .enumerate()
                .map(|(i, (k, v))| format!("{k}={v}{}", separators[i % separators.len()]))
                .collect::<String>();
            map.append(
                axum::http::header::COOKIE,
                axum::http::HeaderValue::from_str(&line).expect("printable ASCII"),
            );
        }
        // The model: pairs in order, the first eight named flash_auth are tried.
        let ours: Vec<&String> = headers
            .iter()
            .flatten()
            .filter(|(k, _)| k.trim() == COOKIE_NAME)
            .map(|(_, v)| v)
            .take(8)
            .collect();
        let expect_ok = genuine.is_some() && ours.iter().any(|v| codec.open(v.trim(), NOW).is_ok());
        let got = codec.from_headers(&map, NOW);
        prop_assert_eq!(got.is_ok(), expect_ok, "{:?}", got);
        if let Ok(c) = got {
            prop_assert_eq!(c, me);
        }
    }

    /// Arbitrary header bytes (whatever `HeaderValue` accepts): never a panic, never a user.
    #[test]
    fn cookie_headers_arbitrary_bytes(values in vec(vec(any::<u8>(), 0..300), 1..4)) {
        let mut map = axum::http::HeaderMap::new();
        for v in values {
            if let Ok(v) = axum::http::HeaderValue::from_bytes(&v) {
                map.append(axum::http::header::COOKIE, v);
            }
        }
        prop_assert!(codec().from_headers(&map, NOW).is_err());
    }
}

/// Every bit flip, every truncation (of the string and of the bytes) and every one-byte
/// extension of genuine cookies is refused.
#[test]
fn cookie_every_bit_flip_and_truncation_refused() {
    let codec = codec();
    for (id, name) in [
        (1, ""),
        (i64::MAX, "a-long-name-".repeat(6).as_str()),
        (-5, "é"),
    ] {
        let c = codec.claims(id, Role::Shopper, name, NOW);
        let sealed = codec.seal(&c);
        assert_eq!(codec.open(&sealed, NOW), Ok(c));
        let raw = dec(&sealed);
        for i in 0..raw.len() {
            for bit in 0..8 {
                let mut bad = raw.clone();
                bad[i] ^= 1 << bit;
                assert!(codec.open(&enc(&bad), NOW).is_err(), "byte {i} bit {bit}");
            }
        }
        for n in 0..raw.len() {
            assert!(codec.open(&enc(&raw[..n]), NOW).is_err(), "bytes[..{n}]");
        }
        for n in 0..sealed.len() {
            assert!(codec.open(&sealed[..n], NOW).is_err(), "chars[..{n}]");
        }
        for extra in 0..=255u8 {
            let mut longer = raw.clone();
            longer.push(extra);
            assert!(codec.open(&enc(&longer), NOW).is_err(), "+{extra}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The captcha and the purchase pass

const CAPTCHA_TTL: i64 = 60_000;
const PASS_TTL: i64 = 30_000;

/// One service for every case (drawing its one test image takes a while in debug builds); the
/// cases use random users, and captcha ids and pass nonces are random, so they do not meet.
fn captchas() -> &'static Captchas {
    static C: OnceLock<Captchas> = OnceLock::new();
    C.get_or_init(|| Captchas::new(SECRET, CAPTCHA_TTL, PASS_TTL, Some(ANSWER.to_string())))
}

/// A pass as a server with `secret` signs it: user, product, expiry and nonce (big-endian),
/// then the first 16 bytes of their HMAC-SHA256 under a key derived from the secret.
fn forge(secret: &str, user: i64, product: i64, expires: i64, nonce: u64) -> String {
    use hmac::{Hmac, Mac};
    type H = Hmac<sha2::Sha256>;
    let mut k = H::new_from_slice(secret.as_bytes()).expect("any key length");
    k.update(b"flash-sale purchase pass v1");
    let key = k.finalize().into_bytes();
    let mut body = Vec::with_capacity(48);
    for field in [user, product, expires] {
        body.extend_from_slice(&field.to_be_bytes());
    }
    body.extend_from_slice(&nonce.to_be_bytes());
    let mut mac = H::new_from_slice(&key).expect("any key length");
    mac.update(&body);
    body.extend_from_slice(&mac.finalize().into_bytes()[..16]);
    enc(&body)
}

/// A real pass of `user` for `product`, issued at `now`.
fn real_pass(c: &Captchas, user: i64, product: i64, now: i64) -> String {
    let issued = c.issue(user, product, now).expect("captcha");
    c.verify(user, product, &issued.captcha_id, ANSWER, now)
        .expect("right answer")
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,80}",
        "[A-Za-z0-9_-]{0,80}",
        Just(String::new()),
        Just(ANSWER.to_uppercase()),
        Just(format!("  {ANSWER}\t")),
        ".{0,300}",
    ]
}

proptest! {
    #![proptest_config(config(2048))]

    /// Arbitrary captcha ids and answers: refused, and a guess at the id consumes nobody's
    /// captcha; the genuine captcha then verifies with its answer.
    #[test]
    fn captcha_verify_arbitrary(id in any_text(), answer in any_text(), user in any::<i64>(), product in any::<i64>(), dt in 0i64..CAPTCHA_TTL) {
        let c = captchas();
        let issued = c.issue(user, product, NOW).expect("captcha");
        prop_assume!(id != issued.captcha_id);
        prop_assert_eq!(c.verify(user, product, &id, &answer, NOW + dt), Err(CaptchaError::Invalid));
        // The guess consumed nothing: the genuine captcha still verifies, once.
        prop_assert!(c.verify(user, product, &issued.captcha_id, ANSWER, NOW + dt).is_ok());
        prop_assert_eq!(c.verify(user, product, &issued.captcha_id, ANSWER, NOW + dt), Err(CaptchaError::Invalid));
    }

    /// The genuine id with a wrong answer, another user, another product or too late: refused,
    /// and the captcha is burnt (the right answer afterwards is refused too).
    #[test]
    fn captcha_wrong_answer_or_owner_burns_it(
        answer in any_text(),
        user in any::<i64>(),
        product in any::<i64>(),
        other in 1i64..1_000,
        how in 0u8..4,
    ) {
        let c = captchas();
        let issued = c.issue(user, product, NOW).expect("captcha");
        let id = &issued.captcha_id;
        let wrong = match how {
            0 => {
                prop_assume!(!answer.trim().eq_ignore_ascii_case(ANSWER));
                c.verify(user, product, id, &answer, NOW)
            }
            1 => c.verify(user.wrapping_add(other), product, id, ANSWER, NOW),
            2 => c.verify(user, product.wrapping_add(other), id, ANSWER, NOW),
            _ => c.verify(user, product, id, ANSWER, NOW + CAPTCHA_TTL + other),
        };
        prop_assert_eq!(wrong, Err(CaptchaError::Invalid));
        prop_assert_eq!(c.verify(user, product, id, ANSWER, NOW), Err(CaptchaError::Invalid));
    }

    /// Arbitrary pass strings, including well-formed base64 of the right length: refused, and
    /// they burn nothing.
    #[test]
    fn pass_arbitrary_strings_refused(
        pass in prop_oneof![
            any_text(),
            vec(any::<u8>(), 48).prop_map(|b| enc(&b)),
            vec(any::<u8>(), 0..100).prop_map(|b| enc(&b)),
        ],
        user in any::<i64>(),
        product in any::<i64>(),
    ) {
        let c = captchas();
        let real = real_pass(c, user, product, NOW);
        prop_assume!(pass != real);
        prop_assert_eq!(c.redeem_pass(&pass, user, product, NOW), Err(CaptchaError::PassRequired));
        prop_assert_eq!(c.redeem_pass(&real, user, product, NOW), Ok(()));
    }

    /// Near misses of a real pass: an edit of its text, a flipped bit, another user, another
    /// product, after expiry, or from a server with another secret — all refused; then the real
    /// pass works once and its replay is refused.
    #[test]
    fn pass_near_misses_refused(
        user in any::<i64>(),
        product in any::<i64>(),
        e in edit(),
        flip in (0usize..48, 0u8..8),
        other in 1i64..1_000_000,
        late in 0i64..10 * PASS_TTL,
        secret in "\\PC{0,40}",
        nonce in any::<u64>(),
    ) {
        let c = captchas();
        let real = real_pass(c, user, product, NOW);
        let refused = Err(CaptchaError::PassRequired);
        if let Some(edited) = apply(&real, &e) {
            prop_assert_eq!(c.redeem_pass(&edited, user, product, NOW), refused, "{:?}", e);
        }
        let mut raw = dec(&real);
        raw[flip.0] ^= 1 << flip.1;
        prop_assert_eq!(c.redeem_pass(&enc(&raw), user, product, NOW), refused);
        prop_assert_eq!(c.redeem_pass(&real, user.wrapping_add(other), product, NOW), refused);
        prop_assert_eq!(c.redeem_pass(&real, user, product.wrapping_sub(other), NOW), refused);
        prop_assert_eq!(c.redeem_pass(&real, user, product, NOW + PASS_TTL + late), refused);
        if secret != SECRET {
            let forged = forge(&secret, user, product, NOW + PASS_TTL, nonce);
            prop_assert_eq!(c.redeem_pass(&forged, user, product, NOW), refused);
        }
        prop_assert_eq!(c.redeem_pass(&real, user, product, NOW + PASS_TTL - 1), Ok(()));
        prop_assert_eq!(c.redeem_pass(&real, user, product, NOW + PASS_TTL - 1), refused);
    }
}

/// Exhaustively: every bit flip, every truncation, every one-byte extension of real passes, and
/// every character of their text replaced by every other base64 character — all refused; the
/// real passes still work once afterwards.
#[test]
fn pass_every_bit_flip_truncation_and_character_refused() {
    let c = captchas();
    let refused = Err(CaptchaError::PassRequired);
    for (user, product) in [(1, 1), (i64::MAX, i64::MIN), (-1, 0), (123_456_789, 42)] {
        let real = real_pass(c, user, product, NOW);
        let raw = dec(&real);
        for i in 0..raw.len() {
            for bit in 0..8 {
                let mut bad = raw.clone();
                bad[i] ^= 1 << bit;
                assert_eq!(c.redeem_pass(&enc(&bad), user, product, NOW), refused);
            }
        }
        for n in 0..raw.len() {
            assert_eq!(c.redeem_pass(&enc(&raw[..n]), user, product, NOW), refused);
        }
        for n in 0..real.len() {
            assert_eq!(c.redeem_pass(&real[..n], user, product, NOW), refused);
        }
        for extra in 0..=255u8 {
            let mut longer = raw.clone();
            longer.push(extra);
            assert_eq!(c.redeem_pass(&enc(&longer), user, product, NOW), refused);
        }
        const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for i in 0..real.len() {
            for ch in B64.chars().filter(|&ch| !real[i..].starts_with(ch)) {
                let mut bad = real.clone();
                bad.replace_range(i..=i, ch.encode_utf8(&mut [0; 4]));
                assert_eq!(c.redeem_pass(&bad, user, product, NOW), refused, "{i} {ch}");
            }
        }
        assert_eq!(c.redeem_pass(&real, user, product, NOW), Ok(()));
        assert_eq!(c.redeem_pass(&real, user, product, NOW), refused);
    }
}

/// The forger above signs exactly as the server does (so "another secret" above is a real
/// test): with the server's secret its pass is accepted, once.
#[test]
fn pass_forged_with_the_right_secret_is_accepted() {
    let c = captchas();
    let pass = forge(SECRET, 11, 12, NOW + 5, 99);
    assert_eq!(c.redeem_pass(&pass, 11, 12, NOW), Ok(()));
    assert_eq!(
        c.redeem_pass(&pass, 11, 12, NOW),
        Err(CaptchaError::PassRequired)
    );
}

/// Spent passes are remembered until they expire (a replay stays refused), then swept.
#[test]
fn pass_replay_refused_until_expiry_then_swept() {
    let c = Captchas::new(SECRET, CAPTCHA_TTL, PASS_TTL, Some(ANSWER.to_string()));
    let c = &c;
    let real = real_pass(c, 3, 4, NOW);
    assert_eq!(c.redeem_pass(&real, 3, 4, NOW), Ok(()));
    c.sweep(NOW + PASS_TTL - 1);
    assert_eq!(
        c.redeem_pass(&real, 3, 4, NOW + 1),
        Err(CaptchaError::PassRequired)
    );
    c.sweep(NOW + PASS_TTL);
    assert_eq!(
        c.redeem_pass(&real, 3, 4, NOW + PASS_TTL),
        Err(CaptchaError::PassRequired),
        "expired anyway"
    );
}

// ---------------------------------------------------------------------------------------------
// The purchase request, over HTTP against a real server in this process

struct Server {
    rt: tokio::runtime::Runtime,
    base: String,
    http: reqwest::Client,
    db: server::repositories::Db,
    product: i64,
    /// Cookie of a shopper who exists in the database.
    cookie: String,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static NEXT_USER: AtomicU64 = AtomicU64::new(0);

/// One server for the whole file (tests run in parallel threads and share it): embedded queue,
/// a fresh SQLite file, test mode (fixed captcha answer), no token buckets, no per-user
/// interval (so every request reaches the check under test).
fn server() -> &'static Server {
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

/// The API's refusal shape: `{"error": CODE, "message": TEXT}`.
fn is_api_error(text: &str) -> bool {
    serde_json::from_str::<Value>(text)
        .is_ok_and(|v| v["error"].is_string() && v["message"].is_string())
}

/// Any JSON value, with the keys the routes look for appearing often.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any_text().prop_map(Value::String),
    ];
    let key = prop_oneof![
        Just("pass".to_string()),
        Just("captcha_id".to_string()),
        Just("answer".to_string()),
        "[a-z_]{0,10}",
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A request body: JSON values, JSON of the right shape with wrong or huge fields, broken JSON,
/// deep nesting, raw bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => json_value().prop_map(|v| serde_json::to_vec(&v).expect("json")),
        3 => (any_text(), any_text()).prop_map(|(a, b)| {
            serde_json::to_vec(&json!({"pass": a, "captcha_id": b, "answer": a})).expect("json")
        }),
        1 => (0usize..20_000).prop_map(|n| {
            serde_json::to_vec(&json!({ "pass": "A".repeat(n) })).expect("json")
        }),
        1 => (json_value(), any::<usize>(), any::<u8>()).prop_map(|(v, at, byte)| {
            let mut b = serde_json::to_vec(&v).expect("json");
            let at = at % (b.len() + 1);
            if at < b.len() && byte % 2 == 0 {
                b.truncate(at);
            } else {
                b.insert(at, byte);
            }
            b
        }),
        1 => (1usize..5_000).prop_map(|depth| {
            let mut b = "[".repeat(depth).into_bytes();
            b.extend(std::iter::repeat_n(b']', depth));
            b
        }),
        1 => (1usize..3_000).prop_map(|depth| {
            format!("{}\"x\"{}", "{\"pass\":".repeat(depth), "}".repeat(depth)).into_bytes()
        }),
        1 => vec(any::<u8>(), 0..600),
    ]
}

fn content_type() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        4 => Just(Some("application/json".to_string())),
        1 => Just(Some("application/json; charset=utf-8".to_string())),
        1 => Just(Some("application/x-www-form-urlencoded".to_string())),
        1 => Just(Some("text/plain".to_string())),
        1 => Just(None),
        1 => "[ -~]{0,40}".prop_map(Some),
    ]
}

/// The `{id}` path segment: mostly the real product, else numbers and junk.
fn product_segment(real: i64) -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just(real.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => prop::sample::select(vec![
            "0", "-1", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
            "1e3", "0x1", "+1", "01", "%20", "%00", "%FF", "%", "1%2F2", ".", "%2e", "..", "%2e%2e", "",
        ])
        .prop_map(String::from),
        1 => "[A-Za-z0-9._~+-]{1,30}",
    ]
}

/// Percent-encodes everything but unreserved characters, as a browser's form would.
fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A form field's value: plain, properly encoded arbitrary text, or raw printable junk.
fn form_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_-]{0,80}",
        any_text().prop_map(|t| urlencode(&t)),
        "[ -~]{0,40}",
    ]
}

fn cookie_for_http(genuine: &str) -> impl Strategy<Value = Option<String>> {
    let genuine = genuine.to_string();
    prop_oneof![
        6 => Just(Some(genuine.clone())),
        1 => Just(None),
        1 => cookie_value().prop_map(|v| Some(format!("{COOKIE_NAME}={v}"))),
        1 => edit().prop_map(move |e| {
            let value = &genuine[COOKIE_NAME.len() + 1..];
            apply(value, &e)
                .filter(|v| v.chars().all(|c| (' '..='~').contains(&c)))
                .map(|v| format!("{COOKIE_NAME}={v}"))
        }),
    ]
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
