use super::*;
use axum::http::HeaderValue;
use proptest::{collection::vec, prelude::*};
use CookieError as E;

const NOW: i64 = 1_700_000_000_000;
const HOUR: Duration = Duration::from_secs(3600);

fn codec(secret: &str, previous: &[&str]) -> CookieCodec {
    let previous: Vec<String> = previous.iter().map(|s| s.to_string()).collect();
    CookieCodec::new(secret, &previous, HOUR, false)
}

/// A codec, fresh claims and their sealed value.
fn sample(secret: &str) -> (CookieCodec, Claims, String) {
    let c = codec(secret, &[]);
    let claims = c.claims(42, Role::Admin, "alice", NOW);
    let sealed = c.seal(&claims);
    (c, claims, sealed)
}

fn enc(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn dec(s: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(s).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]
    #[test]
    fn round_trip(id in any::<i64>(), admin in any::<bool>(), name in "\\PC{0,80}", now in 0i64..1i64 << 42) {
        let c = codec("secret", &[]);
        let role = if admin { Role::Admin } else { Role::Shopper };
        let claims = c.claims(id, role, &name, now);
        prop_assert!(claims.name.len() <= MAX_NAME && name.starts_with(&claims.name));
        prop_assert_eq!(c.open(&c.seal(&claims), now), Ok(claims));
    }

    #[test]
    fn arbitrary_strings_rejected(s in "\\PC{0,200}|[A-Za-z0-9_-]{0,300}") {
        prop_assert!(codec("secret", &[]).open(&s, NOW).is_err());
    }

    #[test]
    fn arbitrary_bytes_rejected(bytes in vec(any::<u8>(), 0..400)) {
        prop_assert!(codec("secret", &[]).open(&enc(&bytes), NOW).is_err());
    }

    /// Right version, key id and shape: only the tag can reject it.
    #[test]
    fn arbitrary_bytes_with_valid_header_rejected(blocks in 1usize..8, body in vec(any::<u8>(), 400)) {
        let c = codec("secret", &[]);
        let mut raw = vec![VERSION, c.0.current.id];
        raw.extend_from_slice(&body[..IV_LEN + blocks * 16 + TAG_LEN]);
        prop_assert_eq!(c.open(&enc(&raw), NOW), Err(E::BadTag));
    }

    /// Authentic garbage reaches the payload parser, which must not panic.
    #[test]
    fn authentic_garbage_payload_never_panics(payload in vec(any::<u8>(), 0..120)) {
        let c = codec("secret", &[]);
        let _ = c.open(&c.seal_payload(&payload), NOW);
    }
}

#[test]
fn every_bit_flip_rejected() {
    let (c, _, sealed) = sample("secret");
    let raw = dec(&sealed);
    for i in 0..raw.len() {
        for bit in 0..8 {
            let mut bad = raw.clone();
            bad[i] ^= 1 << bit;
            assert!(c.open(&enc(&bad), NOW).is_err(), "byte {i} bit {bit}");
        }
    }
}

#[test]
fn every_truncation_rejected() {
    let (c, claims, sealed) = sample("secret");
    assert_eq!(c.open(&sealed, NOW), Ok(claims));
    for n in 0..sealed.len() {
        assert!(c.open(&sealed[..n], NOW).is_err(), "string prefix {n}");
    }
    let mut raw = dec(&sealed);
    for n in 0..raw.len() {
        assert!(c.open(&enc(&raw[..n]), NOW).is_err(), "byte prefix {n}");
    }
    raw.push(0);
    assert!(c.open(&enc(&raw), NOW).is_err());
}

#[test]
fn time_limits() {
    let (c, claims, sealed) = sample("secret");
    assert!(c.open(&sealed, claims.expires_at - 1).is_ok());
    assert_eq!(c.open(&sealed, claims.expires_at), Err(E::Expired));
    assert_eq!(c.open(&sealed, i64::MAX), Err(E::Expired));
    assert!(c.open(&sealed, NOW - MAX_CLOCK_SKEW_MS).is_ok());
    let early = c.open(&sealed, NOW - MAX_CLOCK_SKEW_MS - 1);
    assert_eq!(early, Err(E::IssuedInFuture));
}

#[test]
fn other_secret_and_rotation() {
    let (_, claims, sealed) = sample("old");
    let foreign = codec("another secret", &[]).open(&sealed, NOW);
    assert!(matches!(foreign, Err(E::UnknownKey | E::BadTag)));
    let rotated = codec("new", &["older", "old"]);
    assert_eq!(rotated.open(&sealed, NOW), Ok(claims.clone()));
    let resealed = rotated.seal(&claims);
    assert_eq!(dec(&resealed)[1], Key::derive("new").id);
    assert_ne!(resealed, rotated.seal(&claims), "IV must be fresh");
    assert!(codec("new", &["older"]).open(&sealed, NOW).is_err());
    assert!(codec("old", &[]).open(&resealed, NOW).is_err());
}

#[test]
fn non_base64_and_oversized_rejected() {
    let (c, _, sealed) = sample("secret");
    assert_eq!(c.open("", NOW), Err(E::Missing));
    let (padded, spaced) = (format!("{sealed}="), format!("{sealed} "));
    for bad in [padded, spaced, format!("+{}", &sealed[1..])] {
        assert_eq!(c.open(&bad, NOW), Err(E::Malformed), "{bad}");
    }
    assert_eq!(c.open(&"A".repeat(MAX_ENCODED + 1), NOW), Err(E::TooLarge));
    assert_eq!(c.open(&"é".repeat(3000), NOW), Err(E::TooLarge));
}

#[test]
fn bad_version_padding_and_payload() {
    let (c, _, sealed) = sample("secret");
    let mut raw = dec(&sealed);
    raw[0] = 2;
    assert_eq!(c.open(&enc(&raw), NOW), Err(E::BadVersion));
    let mut payload = encode_payload(&c.claims(1, Role::Shopper, "bob", NOW));
    let short = c.seal_payload(&payload[..20]);
    payload[8] = 7; // no such role
    for bad in [short, c.seal_payload(&payload)] {
        assert_eq!(c.open(&bad, NOW), Err(E::BadPayload));
    }
    // Authentic, but the last block does not unpad.
    let key = &c.0.current;
    let mut raw = vec![VERSION, key.id];
    raw.extend_from_slice(&[0u8; IV_LEN + 16]);
    let tag = key.mac_over(&raw).finalize().into_bytes();
    raw.extend_from_slice(&tag);
    let err = c.open(&enc(&raw), NOW).unwrap_err();
    assert!(matches!(err, E::BadPadding | E::BadPayload), "{err:?}");
}

#[test]
fn from_headers_finds_the_cookie() {
    let (c, claims, sealed) = sample("secret");
    let mut h = HeaderMap::new();
    assert_eq!(c.from_headers(&h, NOW), Err(E::Missing));
    let mut add = |v: String| h.append(COOKIE, HeaderValue::from_str(&v).unwrap());
    add("theme=dark; lang=en".into());
    add(format!("a=b; {COOKIE_NAME}=garbage;x=y"));
    add(format!("z=1;{COOKIE_NAME}={sealed}; flash_auth_x=2"));
    assert_eq!(c.from_headers(&h, NOW), Ok(claims));
    assert_eq!(c.from_headers(&h, i64::MAX), Err(E::Expired));
    let only_lookalikes = HeaderValue::from_static("flash_auth_x=1; a=flash_auth");
    h.insert(COOKIE, only_lookalikes);
    assert_eq!(c.from_headers(&h, NOW), Err(E::Missing));
}

#[test]
fn set_cookie_flags() {
    const FLAGS: &str = "; HttpOnly; SameSite=Lax; Path=/; Max-Age=";
    let (c, claims, _) = sample("secret");
    let set = c.set_cookie(&claims);
    let value = &set[COOKIE_NAME.len() + 1..set.find(';').unwrap()];
    assert_eq!(set, format!("flash_auth={value}{FLAGS}3600"));
    assert_eq!(c.open(value, NOW), Ok(claims.clone()));
    assert_eq!(c.clear_cookie(), format!("flash_auth={FLAGS}0"));
    let secure = CookieCodec::new("secret", &[], HOUR, true).set_cookie(&claims);
    assert!(secure.ends_with(&format!("{FLAGS}3600; Secure")));
    let cleared = CookieCodec::new("s", &[], HOUR, true).clear_cookie();
    assert_eq!(cleared, format!("flash_auth={FLAGS}0; Secure"));
    assert_eq!(c.ttl_ms(), 3_600_000);
}
