//! Captchas and passes: single use, bound to a user and a product, expiring; pooled drawings.

use super::*;

fn svc(answer: Option<&str>) -> Captchas {
    Captchas::new(
        "test-secret-test-secret-test-secret",
        60_000,
        30_000,
        answer.map(String::from),
    )
}

#[test]
fn right_answer_gives_a_single_use_pass_bound_to_user_and_product() {
    let c = svc(Some("abc"));
    let issued = c.issue(1, 2, 0).unwrap();
    assert!(!issued.image_png_base64.is_empty());
    let pass = c.verify(1, 2, &issued.captcha_id, " ABC ", 10).unwrap();
    assert_eq!(
        c.redeem_pass(&pass, 9, 2, 20),
        Err(CaptchaError::PassRequired)
    );
    assert_eq!(
        c.redeem_pass(&pass, 1, 3, 20),
        Err(CaptchaError::PassRequired)
    );
    assert_eq!(
        c.redeem_pass(&pass, 1, 2, 30_010),
        Err(CaptchaError::PassRequired)
    );
    assert_eq!(c.redeem_pass(&pass, 1, 2, 20), Ok(()));
    assert_eq!(
        c.redeem_pass(&pass, 1, 2, 21),
        Err(CaptchaError::PassRequired)
    );
    assert_eq!(c.spent_passes(), 1);
    c.sweep(30_009);
    assert_eq!(c.spent_passes(), 1, "kept while it could be replayed");
    c.sweep(30_010);
    assert_eq!(c.spent_passes(), 0);
}

#[test]
fn captchas_are_single_use_bound_and_expire() {
    let c = svc(Some("abc"));
    let a = c.issue(1, 2, 0).unwrap();
    assert_eq!(
        c.verify(1, 2, &a.captcha_id, "nope", 1),
        Err(CaptchaError::Invalid)
    );
    assert_eq!(
        c.verify(1, 2, &a.captcha_id, "abc", 1),
        Err(CaptchaError::Invalid)
    );
    let b = c.issue(1, 2, 0).unwrap();
    assert_eq!(
        c.verify(5, 2, &b.captcha_id, "abc", 1),
        Err(CaptchaError::Invalid)
    );
    let d = c.issue(1, 2, 0).unwrap();
    assert_eq!(
        c.verify(1, 2, &d.captcha_id, "abc", 60_000),
        Err(CaptchaError::Invalid)
    );
    c.issue(1, 2, 0).unwrap();
    c.sweep(60_001);
    assert_eq!(c.outstanding(), 0);
}

#[test]
fn the_real_answer_is_the_drawn_text() {
    let c = svc(None);
    let issued = c.issue(1, 1, 0).unwrap();
    let answer = c.pending.get(&issued.captcha_id).unwrap().answer.clone();
    assert_eq!(answer.len(), 5);
    assert!(c.verify(1, 1, &issued.captcha_id, &answer, 1).is_ok());
}

#[tokio::test]
async fn pooled_real_drawings_in_test_mode_take_either_answer() {
    let pool = Pool::new(3, 1);
    let c = svc(Some("abc")).with_pool(pool.clone(), true);
    assert!(
        c.issue_ready(1, 2, 0).unwrap().is_none(),
        "nothing drawn yet"
    );
    for _ in 0..500 {
        if pool.len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let a = c.issue_ready(1, 2, 0).unwrap().expect("a pooled drawing");
    let b = c.issue_ready(1, 2, 0).unwrap().expect("a pooled drawing");
    assert_ne!(a.image_png_base64, b.image_png_base64);
    let drawn = c.pending.get(&b.captcha_id).unwrap().answer.clone();
    assert_ne!(drawn, "abc");
    assert!(c.verify(1, 2, &a.captcha_id, "abc", 1).is_ok());
    assert!(c.verify(1, 2, &b.captcha_id, &drawn, 1).is_ok());
    // Without real drawings, test mode serves its one drawing and never touches the pool.
    let fixed = svc(Some("abc")).with_pool(Pool::new(3, 1), false);
    let first = fixed.issue(1, 2, 0).unwrap();
    let again = fixed
        .issue_ready(1, 2, 0)
        .unwrap()
        .expect("the test drawing");
    assert_eq!(first.image_png_base64, again.image_png_base64);
    assert_eq!(fixed.pooled(), 0);
}

#[test]
fn forged_and_garbage_passes_are_refused() {
    let c = svc(Some("abc"));
    let other = Captchas::new("another-secret-another-secret-xx", 60_000, 30_000, None);
    let forged = other.sign_pass(1, 2, 1_000_000, 7);
    assert_eq!(
        c.redeem_pass(&forged, 1, 2, 0),
        Err(CaptchaError::PassRequired)
    );
    for junk in ["", "!!!", "AAAA", &"A".repeat(500)] {
        assert_eq!(
            c.redeem_pass(junk, 1, 2, 0),
            Err(CaptchaError::PassRequired)
        );
    }
}
