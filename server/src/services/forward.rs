//! Routing on the ring: each user's sale steps are handled by the validation node that owns the
//! user, where their 10-second limit, single-use passes and not-yet-written orders live. Any node
//! takes any request and forwards it; if the owner does not answer, the next node on the ring
//! stands in. A client of the wire: it sends what it is given and knows nothing of the sale.

use super::peers::{PeerError, Peers};
use super::ring::{user_key, Ring};
use crate::config::Cluster;
use crate::error::{AppError, AppResult};
use crate::ids::UserId;
use app::model::ErrorCode;
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub const ROUTE_PATH: &str = "/internal/v1/route";
/// The cookie a load balancer reads to send a shopper straight to their owner node: its id in
/// `FLASH_NODES` (`server balancer` writes the balancer's map). Set at login next to the signed
/// cookie, which stays the authority: a forged one only costs a forward.
pub const ROUTE_COOKIE: &str = "flash_node";

/// Whether the node handling a user's step is their owner, or stands in for an unreachable one
/// (and must then check what the owner may have done: orders it took reached the database only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    Owner,
    StandIn,
}

/// Where a step runs.
pub enum Route<R> {
    /// On this node.
    Here(Standing),
    /// On another node, which answered.
    Answered(R),
}

#[derive(Clone)]
pub struct Forwarder {
    ring: Arc<Ring>,
    peers: Peers,
    me: usize,
    ids: Arc<Vec<String>>,
}

impl Forwarder {
    /// `None` for a single node: everything is handled here.
    pub fn new(cluster: &Cluster) -> anyhow::Result<Option<Self>> {
        if cluster.nodes.len() < 2 {
            return Ok(None);
        }
        let ids: Vec<String> = cluster.nodes.iter().map(|p| p.id.clone()).collect();
        let me = ids
            .iter()
            .position(|id| *id == cluster.node_id)
            .ok_or_else(|| anyhow::anyhow!("FLASH_NODE_ID is not in FLASH_NODES"))?;
        let secret = cluster
            .internal_secret
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("FLASH_INTERNAL_SECRET is required on a ring"))?;
        let urls = cluster.nodes.iter().map(|p| p.url.clone()).collect();
        Ok(Some(Forwarder {
            ring: Arc::new(Ring::new(&ids, cluster.vnodes)),
            peers: Peers::new(urls, secret.expose_secret(), cluster.peer_timeout)?,
            me,
            ids: Arc::new(ids),
        }))
    }

    /// The id of the user's owner node.
    pub fn owner_id(&self, user: UserId) -> &str {
        let owner = self.ring.owner(user_key(user.0)).unwrap_or(self.me);
        &self.ids[owner]
    }

    /// Sends `body` (made for the standing of the node it goes to) to the user's owner, or to the
    /// next node on the ring while nodes are unreachable. `Here` once the turn comes to this node.
    pub async fn route<B: Serialize, R: DeserializeOwned>(
        &self,
        user: UserId,
        body: impl Fn(Standing) -> B,
    ) -> AppResult<Route<R>> {
        let key = user_key(user.0);
        // The common case, with a balancer in front: this node is the owner.
        if self.ring.owner(key) == Some(self.me) {
            return Ok(Route::Here(Standing::Owner));
        }
        let order = self.ring.successors(key);
        for (place, node) in order.into_iter().enumerate() {
            let standing = if place == 0 {
                Standing::Owner
            } else {
                Standing::StandIn
            };
            if node == self.me {
                return Ok(Route::Here(standing));
            }
            match self
                .peers
                .post::<_, R>(node, ROUTE_PATH, &body(standing))
                .await
            {
                Ok(reply) => return Ok(Route::Answered(reply)),
                Err(e @ PeerError::Unreachable(..)) => tracing::warn!(
                    node = %self.ids[node], error = %e,
                    "node unreachable: the next one on the ring takes over"
                ),
                // It may have acted on the request, or it is alive and slow: taking over could
                // answer twice, or bypass the user's state that it holds.
                Err(e @ (PeerError::NoAnswer(..) | PeerError::Slow(..))) => {
                    tracing::warn!(node = %self.ids[node], error = %e, "node gave no answer");
                    return Err(AppError::code(
                        ErrorCode::Unavailable,
                        "the sale is busy; please try again",
                    ));
                }
            }
        }
        Ok(Route::Here(Standing::StandIn))
    }
}
