//! Standing in for an owner node that cannot be reached. The owner held its users' spent passes
//! and cooldowns in memory, and they are gone with it: a stand-in accepts only passes issued
//! since it began standing in (by itself, as the shopper's captcha steps come here too), and
//! looks in the database for the user's latest order before starting a cooldown of its own.

use std::sync::atomic::{AtomicI64, Ordering};

/// A quiet spell this long ends a stand-in: the next one begins afresh.
const GAP_MS: i64 = 60_000;

#[derive(Default)]
pub struct StandIn {
    since: AtomicI64,
    last: AtomicI64,
}

impl StandIn {
    /// Notes a step handled as a stand-in at `now`; since when this node has been standing in.
    pub fn begin(&self, now: i64) -> i64 {
        let last = self.last.swap(now, Ordering::AcqRel);
        if now - last > GAP_MS {
            // Racing steps may each store their `now`; the latest one is still a safe start.
            self.since.store(now, Ordering::Release);
            return now;
        }
        self.since.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stand_in_lasts_while_steps_keep_coming() {
        let s = StandIn::default();
        assert_eq!(s.begin(100_000), 100_000);
        assert_eq!(s.begin(130_000), 100_000);
        assert_eq!(
            s.begin(185_000),
            100_000,
            "55 s after the last step: the same one"
        );
        assert_eq!(s.begin(250_000), 250_000, "a minute's quiet: a new one");
    }
}
