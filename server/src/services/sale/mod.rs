//! The sale a shopper sees: a captcha, its pass, the purchase, "my orders". Each is an
//! [`Action`] (one file each) that [`LocalSale`] runs on this node; [`Sale`] first routes it to
//! the shopper's owner on the ring, and runs it here only when that is this node (or this node
//! stands in for it). The owner's side of a forwarded action is [`Routed::apply`].

mod action;
mod captcha;
mod local;
mod op;
mod orders;
mod purchase;
mod verify;

pub use action::Action;
pub use captcha::NewCaptcha;
pub use local::{LocalSale, SaleStages};
pub use op::{Op, Reply, Routed};
pub use orders::MyOrders;
pub use purchase::Purchase;
pub use verify::VerifyCaptcha;

use super::auth::Shopper;
use super::forward::{Forwarder, Route, Standing};
use crate::error::AppResult;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct Sale {
    local: LocalSale,
    /// Set on a ring of several nodes: users owned elsewhere are forwarded there.
    forwarder: Option<Forwarder>,
    metrics: Metrics,
}

impl Sale {
    pub fn new(local: LocalSale, forwarder: Option<Forwarder>, metrics: Metrics) -> Self {
        Sale {
            local,
            forwarder,
            metrics,
        }
    }

    /// The sale on this node alone, for the owner's side of forwarded actions.
    pub fn local(&self) -> &LocalSale {
        &self.local
    }

    /// Runs the shopper's action on their owner: forwarded, or here.
    pub async fn run<A>(&self, shopper: &Shopper, action: A) -> AppResult<A::Output>
    where
        A: Action,
        Op: From<A>,
    {
        let standing = match &self.forwarder {
            None => Standing::Owner,
            Some(f) => {
                let routed = |standing| Routed {
                    user: shopper.claims().clone(),
                    op: Op::from(action.clone()),
                    standing,
                };
                match f.route::<_, Reply>(shopper.id(), routed).await? {
                    Route::Answered(reply) => {
                        self.metrics.routed("forwarded");
                        return reply.into_result();
                    }
                    Route::Here(standing) => {
                        self.metrics.routed(match standing {
                            Standing::Owner => "owner",
                            Standing::StandIn => "stand_in",
                        });
                        standing
                    }
                }
            }
        };
        action.apply(&self.local, shopper, standing).await
    }
}
