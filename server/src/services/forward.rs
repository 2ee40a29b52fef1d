//! Routing on the ring: each user's captcha, pass, purchase and order list are handled by the
//! validation node that owns the user, where their 10-second limit, single-use passes and
//! not-yet-written orders live. Any node takes any request and forwards it; if the owner does
//! not answer, the next node on the ring takes over. The shopper gets the same answer either way.

use super::cookie::Claims;
use super::peers::{PeerError, Peers};
use super::purchase::Pipeline;
use super::ring::{user_key, Ring};
use crate::config::Cluster;
use crate::error::{AppError, AppResult};
use app::model::ApiError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub const ROUTE_PATH: &str = "/internal/v1/route";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Captcha {
        product_id: i64,
    },
    Verify {
        product_id: i64,
        captcha_id: String,
        answer: String,
    },
    Purchase {
        product_id: i64,
        pass: String,
    },
    Orders,
}

/// A request handed to the owner; the caller authenticated the user, the shared secret
/// authenticates the caller.
#[derive(Debug, Serialize, Deserialize)]
pub struct Routed {
    pub user: Claims,
    pub op: Op,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    Ok(serde_json::Value),
    Err {
        error: ApiError,
        retry_after: Option<u64>,
    },
}

impl<T: Serialize> From<AppResult<T>> for Reply {
    fn from(r: AppResult<T>) -> Self {
        let value =
            r.and_then(|v| serde_json::to_value(v).map_err(|e| AppError::Internal(e.into())));
        match value {
            Ok(v) => Reply::Ok(v),
            Err(AppError::RateLimited(error, secs)) => Reply::Err {
                error,
                retry_after: Some(secs),
            },
            Err(e) => Reply::Err {
                error: e.into_api(),
                retry_after: None,
            },
        }
    }
}

impl Reply {
    fn into_result<T: DeserializeOwned>(self) -> AppResult<T> {
        match self {
            Reply::Ok(v) => serde_json::from_value(v).map_err(|e| AppError::Internal(e.into())),
            Reply::Err {
                error,
                retry_after: Some(secs),
            } => Err(AppError::RateLimited(error, secs)),
            Reply::Err { error, .. } => Err(AppError::Api(error)),
        }
    }
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
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("FLASH_INTERNAL_SECRET is required on a ring"))?;
        let urls = cluster.nodes.iter().map(|p| p.url.clone()).collect();
        Ok(Some(Forwarder {
            ring: Arc::new(Ring::new(&ids, cluster.vnodes)),
            peers: Peers::new(urls, secret, cluster.peer_timeout)?,
            me,
            ids: Arc::new(ids),
        }))
    }

    /// Whether this node is the user's first choice on the ring.
    pub fn owns(&self, user_id: i64) -> bool {
        self.ring.owner(user_key(user_id)) == Some(self.me)
    }

    /// `None`: handle it here (this node owns the user, or every node before it on the ring is
    /// down). Otherwise the answer of the node that handled it.
    pub async fn route<T: DeserializeOwned>(
        &self,
        user: &Claims,
        op: impl FnOnce() -> Op,
    ) -> Option<AppResult<T>> {
        if self.owns(user.user_id) {
            return None;
        }
        let order = self.ring.successors(user_key(user.user_id));
        let routed = Routed {
            user: user.clone(),
            op: op(),
        };
        for node in order {
            if node == self.me {
                return None;
            }
            match self.peers.post::<_, Reply>(node, ROUTE_PATH, &routed).await {
                Ok(reply) => return Some(reply.into_result()),
                Err(e @ PeerError::Unreachable(..)) => tracing::warn!(
                    node = %self.ids[node], error = %e,
                    "node unreachable: the next one on the ring takes over"
                ),
                // It may have acted on the request: taking over could answer twice.
                Err(e @ PeerError::NoAnswer(..)) => {
                    tracing::warn!(node = %self.ids[node], error = %e, "node gave no answer");
                    return Some(Err(AppError::code(
                        app::model::ErrorCode::Unavailable,
                        "the sale is busy; please try again",
                    )));
                }
            }
        }
        None
    }
}

/// The owner's side: runs the step here, never forwarding again.
pub async fn serve(pipeline: &Pipeline, routed: Routed) -> Reply {
    let user = &routed.user;
    match routed.op {
        Op::Captcha { product_id } => pipeline.captcha_here(user, product_id).await.into(),
        Op::Verify {
            product_id,
            captcha_id,
            answer,
        } => pipeline
            .verify_here(user, product_id, &captcha_id, &answer)
            .await
            .into(),
        Op::Purchase { product_id, pass } => {
            pipeline.purchase_here(user, product_id, &pass).await.into()
        }
        Op::Orders => pipeline.orders_here(user).await.into(),
    }
}
