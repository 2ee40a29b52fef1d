//! Types shared by the browser and the server. Integers are `i64` (never `usize`) so that
//! wasm32 and x86_64 agree; times are Unix milliseconds taken on the server.

mod admin;
mod error;

pub use admin::*;
pub use error::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Shopper,
    Admin,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

/// Where the product's sale stands at `server_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SalePhase {
    Upcoming,
    OnSale,
    Ended,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub id: i64,
    pub name: String,
    /// Price in cents; `price` is the same amount as a decimal string for display.
    pub price_cents: i64,
    pub price: String,
    pub image: String,
    pub stock: i64,
    pub stock_left: i64,
    pub sale_start: i64,
    pub sale_end: i64,
    pub on_sale: bool,
    /// The product page opens this long before the sale (a countdown, "Buy now" disabled).
    pub page_opens: i64,
    /// How long a reservation may stay unpaid.
    pub pay_within_ms: i64,
    pub server_time: i64,
}

impl Product {
    pub fn phase(&self) -> SalePhase {
        phase_at(self.sale_start, self.sale_end, self.server_time)
    }

    /// Whether the product page may be shown; otherwise it is an "access denied" page (403).
    pub fn page_accessible(&self) -> bool {
        self.server_time >= self.page_opens && self.server_time < self.sale_end
    }
}

pub fn phase_at(start: i64, end: i64, now: i64) -> SalePhase {
    if now < start {
        SalePhase::Upcoming
    } else if now >= end {
        SalePhase::Ended
    } else {
        SalePhase::OnSale
    }
}

pub fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// What an open product page is told of its product: on the live stream whenever it changes
/// (and every half minute, so that the page knows the stream is alive), or when it polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveStock {
    pub product_id: i64,
    pub stock: i64,
    pub stock_left: i64,
    pub phase: SalePhase,
    pub sale_start: i64,
    pub sale_end: i64,
    /// When this was sent: the page sets its clock by it (a cached page's own time is old).
    pub server_time: i64,
}

impl LiveStock {
    /// The same news, whenever it was sent.
    pub fn same_as(&self, other: &LiveStock) -> bool {
        LiveStock {
            server_time: 0,
            ..*self
        } == LiveStock {
            server_time: 0,
            ..*other
        }
    }
}

/// The shopper's own order, told on the live stream once it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveOrder {
    pub order_id: String,
    pub product_id: i64,
    pub status: OrderStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Captcha {
    pub captcha_id: String,
    /// A `data:image/png;base64,…` URL.
    pub image: String,
    pub expires_in_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchasePass {
    pub pass: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Handed to the broker, which did not confirm it in time: resent until it does.
    Pending,
    Queued,
    /// Stored: the unit is the shopper's until the deadline, unless they pay.
    Reserved,
    Paid,
    /// Not paid in time: the unit went back on sale.
    Expired,
    /// Cancelled by the shopper: the unit went back on sale.
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Queued => "queued",
            OrderStatus::Reserved => "reserved",
            OrderStatus::Paid => "paid",
            OrderStatus::Expired => "expired",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    /// The stored state a text names (`None` for any other text).
    pub fn parse(s: &str) -> Option<OrderStatus> {
        [
            OrderStatus::Pending,
            OrderStatus::Queued,
            OrderStatus::Reserved,
            OrderStatus::Paid,
            OrderStatus::Expired,
            OrderStatus::Cancelled,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Stored and still the shopper's one purchase (reserved or paid).
    pub fn is_stored(self) -> bool {
        matches!(self, OrderStatus::Reserved | OrderStatus::Paid)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseOutcome {
    pub order_id: String,
    pub status: OrderStatus,
    /// When the shopper may send the next purchase (server clock, Unix ms).
    pub retry_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: String,
    pub product_id: i64,
    pub product_name: String,
    pub status: OrderStatus,
    pub created_at: i64,
    /// Pay by then (server clock, Unix ms) while reserved; 0: no deadline.
    pub deadline: i64,
    /// Time left to pay when this was answered (0 unless reserved): pages count down from it
    /// without needing the server's clock.
    #[serde(default)]
    pub pays_in_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_and_prices() {
        assert_eq!(phase_at(10, 20, 9), SalePhase::Upcoming);
        assert_eq!(phase_at(10, 20, 10), SalePhase::OnSale);
        assert_eq!(phase_at(10, 20, 20), SalePhase::Ended);
        assert_eq!(format_cents(1999), "19.99");
        assert_eq!(format_cents(5), "0.05");
        assert_eq!(format_cents(-150), "-1.50");
    }
}
