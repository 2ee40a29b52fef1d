//! "My orders": the stored ones and those still in the queue.

use super::action::Action;
use super::local::LocalSale;
use crate::error::AppResult;
use crate::services::auth::Shopper;
use crate::services::forward::Standing;
use app::model::Order;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MyOrders {}

impl Action for MyOrders {
    type Output = Vec<Order>;

    async fn apply(
        self,
        sale: &LocalSale,
        shopper: &Shopper,
        _: Standing,
    ) -> AppResult<Vec<Order>> {
        sale.orders(shopper.id()).await
    }
}
