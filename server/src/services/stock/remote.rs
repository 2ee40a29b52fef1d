//! A node's side of the `stock` processes. Units come in sub-blocks: a stock owner moves them from
//! its lease to the node's tenure (one call and one transaction per block, whose size grows with
//! the rate as every lease's does), and the node sells them from memory. Each sold unit is still
//! registered, in batches, at the shopper's owner (`user % owners`), which remembers whose it is:
//! a shopper's later purchase on another node, while the first order waits in the broker unseen,
//! is then that order (see `owner.rs`). A unit whose order fails goes back to the node's memory
//! only once that owner has let go of the order.

use crate::services::peers::{PeerError, Peers};
use crate::services::queue::gather;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};
use uuid::Uuid;

pub const LEASE_PATH: &str = "/internal/v1/stock/lease";
pub const REGISTER_PATH: &str = "/internal/v1/stock/register";
pub const GIVE_BACK_PATH: &str = "/internal/v1/stock/give_back";

/// "Move up to `want` units of the product to tenure `tenure`", once per `request_id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseRequest {
    pub product_id: i64,
    pub want: i64,
    pub tenure: i64,
    pub request_id: Uuid,
}

/// A node sold a unit of its tenure `tenure` for this order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Registration {
    pub product_id: i64,
    pub user_id: i64,
    pub order_id: Uuid,
    pub tenure: i64,
}

/// "Let go of this order": a node takes its unit back.
#[derive(Debug, Serialize, Deserialize)]
pub struct UnitRequest {
    pub product_id: i64,
    pub user_id: i64,
    pub order_id: Uuid,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TakeReply {
    /// The tenure the order's unit is counted against; `None`: refused (given up before).
    pub tenure: Option<i64>,
    /// The shopper's earlier order whose unit this is: the purchase goes out under that id, and
    /// the unit is never given back.
    pub order_id: Option<Uuid>,
}

impl TakeReply {
    pub fn new(tenure: Option<i64>) -> Self {
        TakeReply {
            tenure,
            order_id: None,
        }
    }
}

/// How long a node keeps asking an owner to let go of an order (the owner remembers orders
/// longer than this).
const GIVE_BACK_FOR: Duration = Duration::from_secs(10 * 60);
/// Registrations per call, and calls in flight per owner.
const REGISTER_BATCH: usize = 256;
const REGISTER_CALLS: usize = 2;
/// A lease call with no answer is asked again, under the same id, this many times.
const LEASE_TRIES: usize = 3;

type Job = (Registration, oneshot::Sender<Result<TakeReply, PeerError>>);

#[derive(Clone)]
pub struct Owners {
    peers: Peers,
    registrars: Arc<Vec<mpsc::Sender<Job>>>,
    /// Per (product, owner), a lease request left without an answer: the owner may have moved
    /// its units to this tenure, so it is asked again, under the same id, before any new one.
    unsettled: Arc<DashMap<(i64, usize), LeaseRequest>>,
}

impl Owners {
    /// Starts one registration batcher per owner (needs a runtime).
    pub fn new(peers: Peers) -> Self {
        let registrars = (0..peers.len())
            .map(|owner| {
                let (tx, rx) = mpsc::channel(4 * REGISTER_BATCH);
                tokio::spawn(register_batches(peers.clone(), owner, rx));
                tx
            })
            .collect();
        Owners {
            peers,
            registrars: Arc::new(registrars),
            unsettled: Arc::default(),
        }
    }

    fn order(&self, start: u64) -> impl Iterator<Item = usize> {
        let n = self.peers.len().max(1);
        let start = (start % n as u64) as usize;
        (0..n).map(move |k| (start + k) % n)
    }

    /// Up to `want` units moved to `tenure` (0: sold out at every owner). An owner out of units
    /// says nothing of the others' (each holds blocks of its own), so all are asked; one that
    /// could not answer may hold some, and then the answer is "try again", not sold out.
    pub async fn lease(&self, product_id: i64, want: i64, tenure: i64) -> Result<i64, sqlx::Error> {
        let mut failed = None;
        for owner in self.order(tenure.unsigned_abs()) {
            let key = (product_id, owner);
            let req = match self.unsettled.get(&key).map(|r| r.clone()) {
                // Of an earlier tenure: those units are no longer this process's to sell.
                Some(r) if r.tenure == tenure => r,
                _ => LeaseRequest {
                    product_id,
                    want,
                    tenure,
                    request_id: Uuid::now_v7(),
                },
            };
            match self.lease_at(owner, &req).await {
                Ok(granted) => {
                    self.unsettled.remove(&key);
                    if granted > 0 {
                        return Ok(granted);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "stock owner did not lease; trying the next");
                    if !matches!(e, PeerError::Unreachable(..)) {
                        self.unsettled.insert(key, req);
                    }
                    failed = Some(e);
                }
            }
        }
        match failed {
            None => Ok(0),
            Some(e) => Err(sqlx::Error::Protocol(format!("no sub-block leased: {e}"))),
        }
    }

    /// One lease request at one owner, asked again while it gives no answer.
    async fn lease_at(&self, owner: usize, req: &LeaseRequest) -> Result<i64, PeerError> {
        let mut attempt = 1;
        loop {
            match self.peers.post::<_, i64>(owner, LEASE_PATH, req).await {
                Err(PeerError::NoAnswer(..)) if attempt < LEASE_TRIES => {
                    tokio::time::sleep(Duration::from_millis(100 * attempt as u64)).await;
                    attempt += 1;
                }
                answer => return answer,
            }
        }
    }

    /// Registers the order's unit at the shopper's owner (the next one when it is gone). The
    /// answer names the owner asked; an error is `Unreachable` only when no owner got it.
    pub async fn register(
        &self,
        product_id: i64,
        user_id: i64,
        order_id: Uuid,
        tenure: i64,
    ) -> Result<(usize, TakeReply), (usize, PeerError)> {
        let r = Registration {
            product_id,
            user_id,
            order_id,
            tenure,
        };
        let mut last = None;
        for owner in self.order(user_id.unsigned_abs()) {
            let (reply, answer) = oneshot::channel();
            let gone = || PeerError::NoAnswer(format!("owner {owner}"), "registrar gone".into());
            if self.registrars[owner]
                .send((r.clone(), reply))
                .await
                .is_err()
            {
                return Err((owner, gone()));
            }
            match answer.await.unwrap_or_else(|_| Err(gone())) {
                Ok(reply) => return Ok((owner, reply)),
                // Not sent: its registry is gone with it; the next owner keeps this shopper's.
                Err(e @ PeerError::Unreachable(..)) => last = Some((owner, e)),
                Err(e) => return Err((owner, e)),
            }
        }
        Err(last.unwrap_or_else(|| {
            (
                0,
                PeerError::Unreachable("stock owners".into(), "none configured".into()),
            )
        }))
    }

    /// Asks `owner` to let go of the order, on a task of its own, until it answers; `reuse` runs
    /// once it has (unless the order's unit went to the shopper's later order).
    pub fn give_back(
        self,
        owner: usize,
        (product_id, user_id, order_id): (i64, i64, Uuid),
        reuse: impl FnOnce() + Send + 'static,
    ) {
        let ask = async move {
            let req = UnitRequest {
                product_id,
                user_id,
                order_id,
            };
            let give_up = tokio::time::Instant::now() + GIVE_BACK_FOR;
            let mut delay = Duration::from_millis(100);
            loop {
                match self
                    .peers
                    .post::<_, bool>(owner, GIVE_BACK_PATH, &req)
                    .await
                {
                    Ok(true) => return reuse(),
                    Ok(false) => return,
                    Err(e) if tokio::time::Instant::now() + delay > give_up => {
                        tracing::error!(error = %e, product_id, "unit not given back: run `server reconcile` after the sale");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, product_id, "give-back not answered; asking again")
                    }
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn(ask)),
            Err(_) => tracing::error!(
                product_id,
                "unit not given back (no runtime): run `server reconcile`"
            ),
        }
    }
}

/// One owner's registrations: what waits is sent together, a few calls at a time.
async fn register_batches(peers: Peers, owner: usize, mut rx: mpsc::Receiver<Job>) {
    let calls = Arc::new(Semaphore::new(REGISTER_CALLS));
    while let Some(first) = rx.recv().await {
        let batch = gather(&mut rx, first, REGISTER_BATCH, Duration::ZERO).await;
        let Ok(permit) = calls.clone().acquire_owned().await else {
            return;
        };
        let peers = peers.clone();
        tokio::spawn(async move {
            let (regs, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
            let answer = peers
                .post::<_, Vec<TakeReply>>(owner, REGISTER_PATH, &regs)
                .await;
            match answer {
                Ok(answers) if answers.len() == replies.len() => {
                    for (reply, a) in replies.into_iter().zip(answers) {
                        let _ = reply.send(Ok(a));
                    }
                }
                Ok(_) => {
                    let e =
                        PeerError::NoAnswer(format!("owner {owner}"), "answers miscounted".into());
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
            drop(permit);
        });
    }
}
