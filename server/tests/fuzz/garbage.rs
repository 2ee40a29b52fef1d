//! Strategies for what a stranger sends over HTTP: bodies, ids, content types, cookies.

use super::*;
use crate::cookie::*;
use crate::pass::*;

/// The API's refusal shape: `{"error": CODE, "message": TEXT}`.
pub(crate) fn is_api_error(text: &str) -> bool {
    serde_json::from_str::<Value>(text)
        .is_ok_and(|v| v["error"].is_string() && v["message"].is_string())
}

/// Any JSON value, with the keys the routes look for appearing often.
pub(crate) fn json_value() -> impl Strategy<Value = Value> {
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
pub(crate) fn body() -> impl Strategy<Value = Vec<u8>> {
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

pub(crate) fn content_type() -> impl Strategy<Value = Option<String>> {
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
pub(crate) fn product_segment(real: i64) -> impl Strategy<Value = String> {
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
pub(crate) fn urlencode(text: &str) -> String {
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
pub(crate) fn form_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9_-]{0,80}",
        any_text().prop_map(|t| urlencode(&t)),
        "[ -~]{0,40}",
    ]
}

pub(crate) fn cookie_for_http(genuine: &str) -> impl Strategy<Value = Option<String>> {
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
