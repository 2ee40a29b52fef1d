use super::*;

// ---------------------------------------------------------------------------------------------
// The captcha and the purchase pass

const CAPTCHA_TTL: i64 = 60_000;
const PASS_TTL: i64 = 30_000;

/// One service for every case (drawing its one test image takes a while in debug builds); the
/// cases use random users, and captcha ids and pass nonces are random, so they do not meet.
pub(crate) fn captchas() -> &'static Captchas {
    static C: OnceLock<Captchas> = OnceLock::new();
    C.get_or_init(|| Captchas::new(SECRET, CAPTCHA_TTL, PASS_TTL, Some(ANSWER.to_string())))
}

/// A pass as a server with `secret` signs it: user, product, expiry and nonce (big-endian),
/// then the first 16 bytes of their HMAC-SHA256 under a key derived from the secret.
pub(crate) fn forge(secret: &str, user: i64, product: i64, expires: i64, nonce: u64) -> String {
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
pub(crate) fn real_pass(c: &Captchas, user: i64, product: i64, now: i64) -> String {
    let issued = c.issue(user, product, now).expect("captcha");
    c.verify(user, product, &issued.captcha_id, ANSWER, now)
        .expect("right answer")
}

pub(crate) fn any_text() -> impl Strategy<Value = String> {
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
