//! What every step of the sale is: data that can travel to the owner node, and what it does there.

use super::local::LocalSale;
use crate::error::AppResult;
use crate::services::auth::Shopper;
use crate::services::forward::Standing;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;

pub trait Action: Clone + Send + Sync + 'static {
    type Output: Serialize + DeserializeOwned + Send;

    /// Runs the step on this node, which is the shopper's owner or `standing` in for it.
    fn apply(
        self,
        sale: &LocalSale,
        shopper: &Shopper,
        standing: Standing,
    ) -> impl Future<Output = AppResult<Self::Output>> + Send;
}
