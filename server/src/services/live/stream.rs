//! One page's stream: its first news, then whatever the ticker frames for its product and, for a
//! logged-in shopper, their order. It holds a slot in the bounds, given back when the page goes.

use super::{too_many, Inner};
use crate::error::{AppError, AppResult};
use crate::ids::{ProductId, UserId};
use crate::services::clients::Client;
use app::model::ErrorCode;
use axum::body::{Body, Bytes};
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::watch;

pub struct LiveStream {
    first: Option<Bytes>,
    news: watch::Receiver<Bytes>,
    // Before `slot`: fields drop in order, and the slot's drop looks at who still listens.
    order: Option<watch::Receiver<Option<Bytes>>>,
    _slot: Slot,
}

enum Next {
    Send(Bytes),
    OrderGone,
    End,
}

impl LiveStream {
    pub(super) fn new(
        first: Bytes,
        news: watch::Receiver<Bytes>,
        order: Option<watch::Receiver<Option<Bytes>>>,
        slot: Slot,
    ) -> Self {
        LiveStream {
            first: Some(first),
            news,
            order,
            _slot: slot,
        }
    }

    /// The response body: ends when the product's channel closes (deleted, or shutdown).
    pub fn into_body(self) -> Body {
        Body::from_stream(futures::stream::unfold(self, |mut s| async move {
            let bytes = s.next().await?;
            Some((Ok::<_, Infallible>(bytes), s))
        }))
    }

    async fn next(&mut self) -> Option<Bytes> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        loop {
            let next = match self.order.as_mut() {
                Some(order) => tokio::select! {
                    r = self.news.changed() => match r {
                        Ok(()) => Next::Send(self.news.borrow_and_update().clone()),
                        Err(_) => Next::End,
                    },
                    r = order.changed() => match r {
                        Ok(()) => match order.borrow_and_update().clone() {
                            Some(b) => Next::Send(b),
                            None => continue,
                        },
                        Err(_) => Next::OrderGone,
                    },
                },
                None => match self.news.changed().await {
                    Ok(()) => Next::Send(self.news.borrow_and_update().clone()),
                    Err(_) => Next::End,
                },
            };
            match next {
                Next::Send(b) => return Some(b),
                Next::OrderGone => self.order = None,
                Next::End => return None,
            }
        }
    }
}

/// A stream's place in the bounds: per client and for the process.
pub(super) struct Slot {
    live: Arc<Inner>,
    client: Client,
    product: ProductId,
    user: Option<UserId>,
}

impl Slot {
    pub(super) fn take(
        live: &Arc<Inner>,
        client: Client,
        product: ProductId,
        user: Option<UserId>,
    ) -> AppResult<Slot> {
        let cfg = &live.cfg;
        if live.open.fetch_add(1, Ordering::AcqRel) >= cfg.max_streams {
            live.open.fetch_sub(1, Ordering::AcqRel);
            return Err(AppError::code(
                ErrorCode::Unavailable,
                "too many live pages open here: poll instead",
            ));
        }
        let bound = match client {
            Client::User(_) => cfg.per_user,
            Client::Address(_) | Client::Unknown => cfg.per_address,
        };
        let mut held = live.clients.entry(client).or_insert(0);
        if *held >= bound {
            drop(held);
            live.open.fetch_sub(1, Ordering::AcqRel);
            return Err(too_many("too many live pages open for this client"));
        }
        *held += 1;
        Ok(Slot {
            live: live.clone(),
            client,
            product,
            user,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let live = &self.live;
        live.open.fetch_sub(1, Ordering::AcqRel);
        if let Some(mut held) = live.clients.get_mut(&self.client) {
            *held = held.saturating_sub(1);
        }
        live.clients.remove_if(&self.client, |_, n| *n == 0);
        if let Some(user) = self.user {
            live.shoppers
                .remove_if(&(self.product, user), |_, tx| tx.receiver_count() == 0);
        }
    }
}
