//! Drawings made ahead: drawing one takes milliseconds of CPU, and a crowd clicks "Buy now" within
//! seconds. While a sale is near, threads of their own keep the pool full at the lowest CPU
//! priority; a click takes a drawing from memory, and only an empty pool makes one draw while the
//! shopper waits. While clicks keep coming the drawers wait, unless the pool runs low: drawing in
//! the middle of a crowd's clicks took 7 % of the server's CPU from the answers they waited for.
//! Each drawing is handed out once.

use super::CaptchaError;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

/// A captcha image and its text.
pub struct Drawing {
    pub answer: String,
    pub png_base64: String,
}

/// Shared by clones; empty (and never filled) with a target of 0.
#[derive(Clone)]
pub struct Pool(Arc<Inner>);

struct Inner {
    ready: Mutex<Vec<Drawing>>,
    target: usize,
    drawers: usize,
    /// Threads drawing now.
    busy: AtomicUsize,
    /// When a drawing was last handed out (ms since the epoch).
    taken_at: AtomicI64,
}

/// Clicks this close together are a crowd: the drawers wait for it to pass…
const QUIET_MS: i64 = 2_000;
/// …unless fewer than this share of the target is left (1 in 4).
const LOW_WATER_DIVISOR: usize = 4;

impl Pool {
    pub fn new(target: usize, drawers: usize) -> Self {
        Pool(Arc::new(Inner {
            ready: Mutex::new(Vec::with_capacity(target)),
            target,
            drawers: drawers.max(1),
            busy: AtomicUsize::new(0),
            taken_at: AtomicI64::new(0),
        }))
    }

    /// A drawing from the pool, if one is ready.
    pub fn take(&self) -> Option<Drawing> {
        self.0.taken_at.store(crate::now_ms(), Ordering::Release);
        self.lock().pop()
    }

    /// Refills, but not while a crowd is clicking, unless the pool runs low.
    pub fn refill_when_quiet(&self, now: i64) {
        let quiet = now - self.0.taken_at.load(Ordering::Acquire) >= QUIET_MS;
        if quiet || self.len() * LOW_WATER_DIVISOR < self.0.target {
            self.refill();
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn wants_more(&self) -> bool {
        self.len() < self.0.target
    }

    /// Starts drawers (up to the configured number) that fill the pool and then stop.
    pub fn refill(&self) {
        if !self.wants_more() {
            return;
        }
        loop {
            let busy = self.0.busy.load(Ordering::Acquire);
            if busy >= self.0.drawers {
                return;
            }
            let claimed =
                self.0
                    .busy
                    .compare_exchange(busy, busy + 1, Ordering::AcqRel, Ordering::Acquire);
            if claimed.is_ok() {
                let pool = Arc::downgrade(&self.0);
                let started = std::thread::Builder::new()
                    .name("captcha-drawer".into())
                    .spawn(move || {
                        // Drawing ahead yields the CPU to everything else.
                        crate::services::priority::give_way(19, "captcha drawer");
                        fill(pool)
                    });
                if let Err(e) = started {
                    tracing::error!(error = %e, "captcha pool: no drawer thread");
                    self.0.busy.fetch_sub(1, Ordering::AcqRel);
                    return;
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Drawing>> {
        self.0.ready.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Draws until the pool is full or gone.
fn fill(pool: Weak<Inner>) {
    loop {
        let Some(p) = pool.upgrade() else { return };
        let full = p.ready.lock().unwrap_or_else(PoisonError::into_inner).len() >= p.target;
        if full {
            p.busy.fetch_sub(1, Ordering::AcqRel);
            return;
        }
        match draw() {
            Ok(d) => {
                let mut ready = p.ready.lock().unwrap_or_else(PoisonError::into_inner);
                // Another drawer may have filled it meanwhile: never past the target.
                if ready.len() >= p.target {
                    drop(ready);
                    p.busy.fetch_sub(1, Ordering::AcqRel);
                    return;
                }
                ready.push(d);
            }
            Err(e) => {
                tracing::error!(error = %e, "captcha pool: drawing failed");
                p.busy.fetch_sub(1, Ordering::AcqRel);
                return;
            }
        }
    }
}

/// A new captcha image.
pub fn draw() -> Result<Drawing, CaptchaError> {
    let mut img = captcha::Captcha::new();
    img.add_chars(5)
        .apply_filter(captcha::filters::Noise::new(0.2))
        .apply_filter(captcha::filters::Wave::new(2.0, 12.0))
        .view(220, 110);
    let png_base64 = img.as_base64().ok_or(CaptchaError::Render)?;
    Ok(Drawing {
        answer: img.chars_as_string(),
        png_base64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn settled(pool: &Pool) {
        for _ in 0..500 {
            if pool.0.busy.load(Ordering::Acquire) == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }

    #[tokio::test]
    async fn the_drawers_wait_for_the_clicks_to_pass_unless_the_pool_runs_low() {
        let pool = Pool::new(8, 2);
        pool.refill();
        settled(&pool).await;
        assert_eq!(pool.len(), 8);
        let now = crate::now_ms();
        pool.take();
        pool.refill_when_quiet(now);
        settled(&pool).await;
        assert_eq!(pool.len(), 7, "a crowd is clicking: nothing drawn");
        pool.refill_when_quiet(now + QUIET_MS);
        settled(&pool).await;
        assert_eq!(pool.len(), 8, "quiet again: refilled");
        for _ in 0..7 {
            pool.take();
        }
        pool.refill_when_quiet(crate::now_ms());
        settled(&pool).await;
        assert_eq!(pool.len(), 8, "low: drawn even while clicks come");
    }

    #[tokio::test]
    async fn refill_fills_to_the_target_and_each_drawing_goes_once() {
        let pool = Pool::new(6, 2);
        pool.refill();
        for _ in 0..500 {
            if !pool.wants_more() && pool.0.busy.load(Ordering::Acquire) == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(pool.len(), 6);
        let mut seen = std::collections::HashSet::new();
        while let Some(d) = pool.take() {
            assert_eq!(d.answer.len(), 5);
            assert!(seen.insert(d.png_base64), "a drawing handed out twice");
        }
        assert_eq!(seen.len(), 6);
        assert!(Pool::new(0, 1).take().is_none());
    }
}
