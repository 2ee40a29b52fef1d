//! Admin types: product forms, order search, blacklist, and the live sale dashboard.

use super::OrderStatus;
use serde::{Deserialize, Serialize};

/// A product form as typed (strings), validated on the server field by field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductForm {
    pub name: String,
    /// Decimal, e.g. `19.99`.
    pub price: String,
    pub image: String,
    pub stock: String,
    /// UTC, `YYYY-MM-DDTHH:MM` (an `<input type="datetime-local">`) or Unix milliseconds.
    pub sale_start: String,
    pub sale_end: String,
    /// Seconds a shopper has to pay for a reservation; empty: 15 minutes.
    #[serde(default)]
    pub pay_within_secs: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderFilter {
    pub product_id: Option<i64>,
    pub status: Option<OrderStatus>,
    /// Exact user name.
    pub user: Option<String>,
    /// From 1.
    pub page: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminOrder {
    pub order_id: String,
    pub product_id: i64,
    pub product_name: String,
    pub user_id: i64,
    pub user_name: String,
    pub status: OrderStatus,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrdersPage {
    pub orders: Vec<AdminOrder>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlacklistEntry {
    pub user_id: i64,
    pub user_name: String,
    pub reason: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalCount {
    pub code: String,
    pub count: i64,
}

/// The live view of one sale, polled every second by the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    pub product_id: i64,
    pub product_name: String,
    pub stock: i64,
    pub sold: i64,
    pub left: i64,
    /// Accepted purchases per second, oldest first, one value per second up to `server_time`.
    pub orders_per_second: Vec<i64>,
    /// Messages waiting in the queue (RabbitMQ) or orders waiting for the group commit (embedded).
    pub queue_depth: i64,
    /// Orders accepted but not yet written by the consumer.
    pub consumer_lag: i64,
    /// Messages in the dead-letter queue (RabbitMQ; 0 with the embedded queue), -1 when the
    /// broker does not answer.
    pub dead_letters: i64,
    pub refusals: Vec<RefusalCount>,
    /// Stored orders by state: reserved (unpaid), paid, expired, cancelled.
    pub reserved: i64,
    pub paid: i64,
    pub expired: i64,
    pub cancelled: i64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub server_time: i64,
}
