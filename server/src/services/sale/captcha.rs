//! A fresh captcha for a product on sale.

use super::action::Action;
use super::local::LocalSale;
use crate::error::AppResult;
use crate::ids::ProductId;
use crate::services::auth::Shopper;
use crate::services::forward::Standing;
use app::model::Captcha;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewCaptcha {
    pub product_id: ProductId,
}

impl Action for NewCaptcha {
    type Output = Captcha;

    async fn apply(self, sale: &LocalSale, shopper: &Shopper, _: Standing) -> AppResult<Captcha> {
        sale.captcha(shopper.id(), self.product_id).await
    }
}
