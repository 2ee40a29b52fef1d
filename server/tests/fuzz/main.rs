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

mod cookie;
mod door;
mod garbage;
mod http;
mod pass;
