use super::*;

// ---------------------------------------------------------------------------------------------
// The cookie parser

pub(crate) fn codec() -> CookieCodec {
    CookieCodec::new(SECRET, &["an-older-secret".to_string()], HOUR, false)
}

pub(crate) fn claims() -> impl Strategy<Value = Claims> {
    (any::<i64>(), any::<bool>(), "\\PC{0,70}", 0i64..(1 << 42)).prop_map(
        |(id, admin, name, issued)| {
            let role = if admin { Role::Admin } else { Role::Shopper };
            codec().claims(id, role, &name, issued)
        },
    )
}

/// A cookie name as a browser, a lookalike or an attacker may send it.
pub(crate) fn cookie_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(COOKIE_NAME.to_string()),
        1 => Just(format!(" {COOKIE_NAME} ")),
        1 => Just(format!("{COOKIE_NAME}_x")),
        1 => Just(COOKIE_NAME.to_uppercase()),
        2 => "[A-Za-z0-9_.-]{0,12}",
    ]
}

/// A junk cookie value: printable ASCII without `;` (the pair separator).
pub(crate) fn cookie_value() -> impl Strategy<Value = String> {
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
