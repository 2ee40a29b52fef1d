//! Orders accepted by the queue (or sent and resent until it confirms them) and not yet written
//! by the consumer, kept for "my orders".

use crate::repositories::orders::NewOrder;
use app::model::{Order, OrderStatus};
use dashmap::DashMap;
use std::sync::Arc;

/// Orders the broker confirmed but the consumer may not have written yet, per user: "my orders"
/// shows them as queued. This node owns its users' purchases, so its map is the whole truth
/// for them.
#[derive(Clone, Default)]
pub struct Pending(Arc<DashMap<i64, Vec<(NewOrder, String)>>>);

/// Long after any healthy consumer wrote them.
const PENDING_MS: i64 = 10 * 60_000;

impl Pending {
    pub fn add(&self, order: NewOrder, product_name: String) {
        self.0
            .entry(order.user_id)
            .or_default()
            .push((order, product_name));
    }

    /// Drops what the database now has; returns the rest as queued orders.
    pub fn settle(&self, user_id: i64, stored: &[Order]) -> Vec<Order> {
        let Some(mut list) = self.0.get_mut(&user_id) else {
            return Vec::new();
        };
        list.retain(|(o, _)| {
            let id = o.order_id.to_string();
            !stored.iter().any(|s| s.order_id == id)
        });
        let queued = list
            .iter()
            .map(|(o, name)| Order {
                order_id: o.order_id.to_string(),
                product_id: o.product_id,
                product_name: name.clone(),
                status: OrderStatus::Queued,
                created_at: o.created_at,
                deadline: o.deadline,
                pays_in_ms: 0,
            })
            .collect();
        let empty = list.is_empty();
        drop(list);
        if empty {
            self.0.remove_if(&user_id, |_, v| v.is_empty());
        }
        queued
    }

    /// Orders accepted by the broker and not yet seen in the database.
    pub fn len(&self) -> usize {
        self.0.iter().map(|e| e.value().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn sweep(&self, now: i64) {
        self.0.retain(|_, v| {
            v.retain(|(o, _)| now - o.created_at < PENDING_MS);
            !v.is_empty()
        });
    }
}
