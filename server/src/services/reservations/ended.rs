//! The feed of ended orders. A validation node's buyer sets and a stock owner's holders remember
//! who bought what; when a reservation ends unpaid (on whichever process swept or cancelled it)
//! each of them must forget that shopper, or they could not buy again. They all share the
//! database, so each process reads the orders ended since it last looked, twice a second. Rows
//! committed late with an earlier time (two sweepers, clocks apart) are caught by reading back
//! over a window and skipping the orders already told.

use crate::repositories::orders::{self, Ended};
use crate::repositories::Db;
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

const EVERY: Duration = Duration::from_millis(500);
/// Read back this far behind the latest ending seen.
const WINDOW_MS: i64 = 10_000;
/// A sweep round ends up to 500 at one time; several sweepers may share a millisecond.
const PER_READ: i64 = 5_000;

/// What remembers shoppers and forgets one whose order ended.
pub trait Forgets: Send + Sync + 'static {
    fn forget(&self, ended: &Ended);
    /// `false` once what it forgets in is gone: the feed stops.
    fn alive(&self) -> bool;
}

/// Follows the feed for as long as `who` is alive.
pub fn follow(db: Db, who: impl Forgets) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Earlier endings are already in the database the sets are read from.
        let mut latest = crate::now_ms();
        let mut told: HashMap<Uuid, i64> = HashMap::new();
        while who.alive() {
            let mut since = latest - WINDOW_MS;
            loop {
                let rows = match orders::ended_since(&db, since, PER_READ).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        tracing::warn!(error = %e, "ended orders not read; trying again");
                        break;
                    }
                };
                for e in &rows {
                    if told.insert(e.order_id, e.settled_at).is_none() {
                        who.forget(e);
                    }
                    latest = latest.max(e.settled_at);
                }
                match rows.last() {
                    // A burst: read on from the last one's time.
                    Some(last) if rows.len() as i64 == PER_READ => {
                        since = last.settled_at.max(since + 1);
                    }
                    _ => break,
                }
            }
            told.retain(|_, at| *at >= latest - WINDOW_MS);
            tokio::time::sleep(EVERY).await;
        }
    })
}
