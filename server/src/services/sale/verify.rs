//! A captcha answer, exchanged for a single-use purchase pass.

use super::action::Action;
use super::local::LocalSale;
use crate::error::AppResult;
use crate::ids::ProductId;
use crate::services::auth::Shopper;
use crate::services::forward::Standing;
use app::model::PurchasePass;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VerifyCaptcha {
    pub product_id: ProductId,
    pub captcha_id: String,
    pub answer: String,
}

impl Action for VerifyCaptcha {
    type Output = PurchasePass;

    async fn apply(
        self,
        sale: &LocalSale,
        shopper: &Shopper,
        _: Standing,
    ) -> AppResult<PurchasePass> {
        sale.verify(
            shopper.id(),
            self.product_id,
            &self.captcha_id,
            &self.answer,
        )
        .await
    }
}
