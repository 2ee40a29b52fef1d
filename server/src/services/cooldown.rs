//! The per-user limit: a user's purchase is answered at most once per interval (10 s by
//! default). Atomic per user (one map entry, updated under its shard lock) and bounded: a sweep
//! drops entries older than the interval.

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use std::sync::Arc;
use std::time::Duration;

/// Below this many entries a map is not worth shrinking.
const SHRINK_ABOVE: usize = 4096;

#[derive(Clone)]
pub struct Cooldown {
    last: Arc<DashMap<i64, i64>>,
    interval_ms: i64,
}

impl Cooldown {
    pub fn new(interval: Duration) -> Self {
        Cooldown {
            last: Arc::new(DashMap::new()),
            interval_ms: interval.as_millis() as i64,
        }
    }

    pub fn interval_ms(&self) -> i64 {
        self.interval_ms
    }

    /// Claims the user's slot at `now`; `Err(ms to wait)` when the last one is too recent.
    pub fn try_claim(&self, user_id: i64, now: i64) -> Result<(), i64> {
        if self.interval_ms <= 0 {
            return Ok(());
        }
        match self.last.entry(user_id) {
            Entry::Occupied(mut e) => {
                let wait = *e.get() + self.interval_ms - now;
                if wait > 0 {
                    return Err(wait);
                }
                e.insert(now);
            }
            Entry::Vacant(e) => {
                e.insert(now);
            }
        }
        Ok(())
    }

    /// Starts the users' intervals at the given times (their latest orders): a restarted node
    /// keeps the 10 s rule of the purchases its earlier run answered.
    pub fn seed(&self, last: impl IntoIterator<Item = (i64, i64)>) {
        for (user_id, at) in last {
            let mut slot = self.last.entry(user_id).or_insert(at);
            *slot = (*slot).max(at);
        }
    }

    pub fn sweep(&self, now: i64) {
        let cutoff = now - self.interval_ms;
        self.last.retain(|_, t| *t > cutoff);
        // Memory goes back once most of it is unused: shrinking at every sweep rehashed the
        // whole map each second, a tenth of the server's CPU under a crowd.
        if self.last.capacity() > 4 * self.last.len().max(SHRINK_ABOVE) {
            self.last.shrink_to_fit();
        }
    }

    pub fn len(&self) -> usize {
        self.last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_claim_per_interval() {
        let c = Cooldown::new(Duration::from_secs(10));
        assert!(c.try_claim(1, 1_000).is_ok());
        assert_eq!(c.try_claim(1, 5_000), Err(6_000));
        assert!(c.try_claim(2, 5_000).is_ok());
        assert!(c.try_claim(1, 11_000).is_ok());
    }

    #[test]
    fn concurrent_claims_of_one_user_let_exactly_one_through() {
        let c = Cooldown::new(Duration::from_secs(10));
        let passed: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|_| s.spawn(|| (0..100).filter(|_| c.try_claim(7, 1_000).is_ok()).count()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
        });
        assert_eq!(passed, 1);
    }

    #[test]
    fn sweep_bounds_memory() {
        let c = Cooldown::new(Duration::from_secs(10));
        for u in 0..10_000 {
            assert!(c.try_claim(u, 0).is_ok());
        }
        c.sweep(5_000);
        assert_eq!(c.len(), 10_000);
        c.sweep(10_001);
        assert!(c.is_empty());
    }
}
