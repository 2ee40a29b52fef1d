//! Captcha and purchase pass. A captcha's answer stays on the server, bound to one user and one
//! product, expires, and is single use (a wrong answer burns it too). A right answer yields a
//! short-lived pass, signed with a key derived from the secret, that the purchase requires —
//! also single use. Drawings come from a pool made ahead (`pool.rs`).

mod pool;

pub use pool::{draw, Drawing, Pool};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dashmap::DashMap;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::sync::Arc;

type HmacSha256 = Hmac<Sha256>;

/// Outstanding captchas above this are refused, so a flood cannot grow the map without end.
const MAX_OUTSTANDING: usize = 500_000;
const PASS_LEN: usize = 8 * 4 + 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CaptchaError {
    #[error("wrong or expired captcha")]
    Invalid,
    #[error("a valid purchase pass is required: solve the captcha first")]
    PassRequired,
    #[error("too many captchas outstanding")]
    Busy,
    #[error("captcha image could not be drawn")]
    Render,
    #[error("too many captchas asked for")]
    TooMany(std::time::Duration),
}

struct Pending {
    user_id: i64,
    product_id: i64,
    answer: String,
    expires: i64,
}

#[derive(Clone)]
pub struct Captchas {
    pending: Arc<DashMap<String, Pending>>,
    used_passes: Arc<DashMap<u64, i64>>,
    /// Keyed once: each pass then costs its own bytes only, not the key schedule.
    pass_mac: HmacSha256,
    ttl_ms: i64,
    pass_ttl_ms: i64,
    /// Spent passes are remembered from here on: older passes are refused.
    issued_after: i64,
    test_answer: Option<String>,
    test_image: Arc<std::sync::Mutex<Option<String>>>,
    /// Test mode serves real drawings (the test answer still passes): what the crowd
    /// benchmark pays for.
    real_drawings: bool,
    pool: Pool,
    /// Drawings per shopper: each is CPU, so one shopper may not ask for thousands.
    per_user: Option<Arc<governor::DefaultKeyedRateLimiter<i64>>>,
}

/// A pass checked but not yet spent (see `Captchas::open_pass`).
#[must_use]
pub struct OpenPass {
    nonce: u64,
    expires: i64,
}

pub struct Issued {
    pub captcha_id: String,
    pub image_png_base64: String,
    pub expires_in_ms: i64,
}

impl Captchas {
    pub fn new(secret: &str, ttl_ms: i64, pass_ttl_ms: i64, test_answer: Option<String>) -> Self {
        let mut mac =
            HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
        mac.update(b"flash-sale purchase pass v1");
        let pass_key: [u8; 32] = mac.finalize().into_bytes().into();
        Captchas {
            pending: Arc::default(),
            used_passes: Arc::default(),
            pass_mac: HmacSha256::new_from_slice(&pass_key).expect("any key length"),
            ttl_ms,
            pass_ttl_ms,
            issued_after: i64::MIN,
            test_answer,
            test_image: Arc::default(),
            real_drawings: false,
            pool: Pool::new(0, 1),
            per_user: None,
        }
    }

    /// This process remembers the passes spent since `started` only (an earlier run's memory is
    /// gone): a pass issued before then is refused, lest it be spent twice.
    pub fn remembering_since(mut self, started: i64) -> Self {
        self.issued_after = started;
        self
    }

    /// At most this many drawings per shopper: a burst, then one a period (`None`: no limit,
    /// as with the token buckets off).
    pub fn limited(mut self, per_user: Option<crate::config::Bucket>) -> Self {
        self.per_user = per_user.map(|b| {
            let quota = crate::services::limiter::quota(b);
            Arc::new(governor::RateLimiter::keyed(quota))
        });
        self
    }

    /// Takes one of the shopper's drawings, or says how long until the next. A full map of
    /// outstanding captchas is said first: a shopper told "busy" has spent nothing.
    pub fn may_draw(&self, user_id: i64) -> Result<(), CaptchaError> {
        use governor::clock::{Clock, DefaultClock};
        self.room()?;
        let Some(limit) = &self.per_user else {
            return Ok(());
        };
        limit
            .check_key(&user_id)
            .map_err(|n| CaptchaError::TooMany(n.wait_time_from(DefaultClock::default().now())))
    }

    /// Drawings made ahead, and whether test mode serves them rather than its one drawing.
    pub fn with_pool(mut self, pool: Pool, real_drawings: bool) -> Self {
        self.pool = pool;
        self.real_drawings = real_drawings;
        self
    }

    /// A captcha from memory, when one is ready: a pooled drawing, or test mode's one drawing.
    pub fn issue_ready(
        &self,
        user_id: i64,
        product_id: i64,
        now: i64,
    ) -> Result<Option<Issued>, CaptchaError> {
        self.room()?;
        let ready = match &self.test_answer {
            Some(a) if !self.real_drawings => {
                self.lock_test_image().clone().map(|img| (a.clone(), img))
            }
            _ => {
                let drawing = self.pool.take();
                self.pool.refill_when_quiet(now);
                drawing.map(|d| (d.answer, d.png_base64))
            }
        };
        Ok(ready.map(|(answer, image)| self.pending_for(user_id, product_id, now, answer, image)))
    }

    /// Whether captchas are drawn for real and the pool has room.
    pub fn wants_drawings(&self) -> bool {
        (self.test_answer.is_none() || self.real_drawings) && self.pool.wants_more()
    }

    /// Fills the pool of drawings (a sale is near), once its clicks have quietened.
    pub fn prepare(&self, now: i64) {
        self.pool.refill_when_quiet(now);
    }

    pub fn pooled(&self) -> usize {
        self.pool.len()
    }

    fn room(&self) -> Result<(), CaptchaError> {
        if self.pending.len() >= MAX_OUTSTANDING {
            return Err(CaptchaError::Busy);
        }
        Ok(())
    }

    fn lock_test_image(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.test_image
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Draws a new captcha (CPU work: call from a blocking thread).
    pub fn issue(&self, user_id: i64, product_id: i64, now: i64) -> Result<Issued, CaptchaError> {
        self.room()?;
        let (answer, image) = match &self.test_answer {
            // The answer is fixed anyway: one drawing serves every captcha, so load tests
            // measure the pipeline rather than the image library. The lock makes a crowd at
            // start wait for one drawing instead of each making one.
            Some(a) if !self.real_drawings => {
                let mut cached = self.lock_test_image();
                let img = match cached.as_ref() {
                    Some(img) => img.clone(),
                    None => cached.insert(draw()?.png_base64).clone(),
                };
                (a.clone(), img)
            }
            _ => {
                let d = draw()?;
                (d.answer, d.png_base64)
            }
        };
        Ok(self.pending_for(user_id, product_id, now, answer, image))
    }

    fn pending_for(
        &self,
        user_id: i64,
        product_id: i64,
        now: i64,
        answer: String,
        image: String,
    ) -> Issued {
        let captcha_id = random_id();
        self.pending.insert(
            captcha_id.clone(),
            Pending {
                user_id,
                product_id,
                answer,
                expires: now + self.ttl_ms,
            },
        );
        Issued {
            captcha_id,
            image_png_base64: image,
            expires_in_ms: self.ttl_ms,
        }
    }

    /// Checks an answer (consuming the captcha either way) and returns a purchase pass.
    pub fn verify(
        &self,
        user_id: i64,
        product_id: i64,
        captcha_id: &str,
        answer: &str,
        now: i64,
    ) -> Result<String, CaptchaError> {
        let (_, p) = self
            .pending
            .remove(captcha_id)
            .ok_or(CaptchaError::Invalid)?;
        let answer = answer.trim();
        // With real drawings in test mode, the test answer passes too: the crowd benchmark
        // cannot read the images.
        let right = p.answer.eq_ignore_ascii_case(answer)
            || self
                .test_answer
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(answer));
        let ok = p.user_id == user_id && p.product_id == product_id && now < p.expires && right;
        if !ok {
            return Err(CaptchaError::Invalid);
        }
        Ok(self.pass_for(user_id, product_id, now))
    }

    /// The pass a right answer earns. Also for tools that hold the secret, as they seal cookies:
    /// the load generator prepares hundreds of thousands of shoppers without drawing captchas.
    pub fn pass_for(&self, user_id: i64, product_id: i64, now: i64) -> String {
        self.sign_pass(user_id, product_id, now + self.pass_ttl_ms, rand::random())
    }

    fn sign_pass(&self, user_id: i64, product_id: i64, expires: i64, nonce: u64) -> String {
        let mut body = Vec::with_capacity(PASS_LEN);
        body.extend_from_slice(&user_id.to_be_bytes());
        body.extend_from_slice(&product_id.to_be_bytes());
        body.extend_from_slice(&expires.to_be_bytes());
        body.extend_from_slice(&nonce.to_be_bytes());
        let tag = self.pass_mac(&body).finalize().into_bytes();
        body.extend_from_slice(&tag[..16]);
        URL_SAFE_NO_PAD.encode(body)
    }

    fn pass_mac(&self, body: &[u8]) -> HmacSha256 {
        let mut mac = self.pass_mac.clone();
        mac.update(body);
        mac
    }

    /// Accepts a pass once: for this user, this product, before it expires.
    pub fn redeem_pass(
        &self,
        pass: &str,
        user_id: i64,
        product_id: i64,
        now: i64,
    ) -> Result<(), CaptchaError> {
        self.spend(self.open_pass(pass, user_id, product_id, now, i64::MIN)?)
    }

    /// A pass that is genuine, this user's, for this product, unexpired, not yet spent and
    /// issued after `issued_after` (and after this process started remembering) — checked
    /// without spending it, so that a purchase refused for another reason keeps it.
    pub fn open_pass(
        &self,
        pass: &str,
        user_id: i64,
        product_id: i64,
        now: i64,
        issued_after: i64,
    ) -> Result<OpenPass, CaptchaError> {
        if pass.len() > 128 {
            return Err(CaptchaError::PassRequired);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(pass)
            .map_err(|_| CaptchaError::PassRequired)?;
        if raw.len() != PASS_LEN {
            return Err(CaptchaError::PassRequired);
        }
        let (body, tag) = raw.split_at(32);
        self.pass_mac(body)
            .verify_truncated_left(tag)
            .map_err(|_| CaptchaError::PassRequired)?;
        let field = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&body[i * 8..i * 8 + 8]);
            b
        };
        let (uid, pid) = (i64::from_be_bytes(field(0)), i64::from_be_bytes(field(1)));
        let (expires, nonce) = (i64::from_be_bytes(field(2)), u64::from_be_bytes(field(3)));
        let issued = expires.saturating_sub(self.pass_ttl_ms);
        if uid != user_id || pid != product_id || now >= expires {
            return Err(CaptchaError::PassRequired);
        }
        if issued < self.issued_after.max(issued_after) {
            return Err(CaptchaError::PassRequired);
        }
        if self.used_passes.contains_key(&nonce) {
            return Err(CaptchaError::PassRequired);
        }
        Ok(OpenPass { nonce, expires })
    }

    /// Spends an opened pass; a second spender of the same pass is refused.
    pub fn spend(&self, pass: OpenPass) -> Result<(), CaptchaError> {
        match self.used_passes.insert(pass.nonce, pass.expires) {
            Some(_) => Err(CaptchaError::PassRequired),
            None => Ok(()),
        }
    }

    /// Forgets expired captchas and spent passes that could no longer be replayed anyway.
    pub fn sweep(&self, now: i64) {
        self.pending.retain(|_, p| p.expires > now);
        self.used_passes.retain(|_, expires| *expires > now);
        if let Some(limit) = &self.per_user {
            limit.retain_recent();
        }
    }

    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }

    /// Spent passes remembered (until they expire) so that they cannot be replayed.
    pub fn spent_passes(&self) -> usize {
        self.used_passes.len()
    }
}

fn random_id() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

#[cfg(test)]
mod tests;
