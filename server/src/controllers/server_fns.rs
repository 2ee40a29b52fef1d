//! The server functions' door: the app's backend port, one line per action into the same
//! services as the JSON API.

use super::extract::client_ip;
use super::AppState;
use crate::ids::ProductId;
use crate::services::sale::{MyOrders, NewCaptcha, Purchase, VerifyCaptcha};
use app::api::{Backend, SessionCookie};
use app::model::{
    ApiError, BlacklistEntry, Captcha, Dashboard, LiveStock, Order, OrderFilter, OrderStatus,
    OrdersPage, Product, ProductForm, PurchaseOutcome, PurchasePass, User,
};
use http::request::Parts;

#[async_trait::async_trait]
impl Backend for AppState {
    async fn products(&self, _: &Parts) -> Result<Vec<Product>, ApiError> {
        Ok(self.catalog.products().await?)
    }

    async fn product(&self, _: &Parts, id: i64) -> Result<Product, ApiError> {
        Ok(self.catalog.product(ProductId(id)).await?)
    }

    async fn stock(&self, _: &Parts, id: i64) -> Result<LiveStock, ApiError> {
        Ok(self.catalog.stock_info(ProductId(id)).await?)
    }

    async fn register(
        &self,
        r: &Parts,
        name: String,
        pw: String,
    ) -> Result<SessionCookie, ApiError> {
        Ok(self.accounts.register(&name, &pw, client_ip(r)).await?)
    }

    async fn login(&self, r: &Parts, name: String, pw: String) -> Result<SessionCookie, ApiError> {
        Ok(self.accounts.login(&name, &pw, client_ip(r)).await?)
    }

    fn logout(&self) -> String {
        self.accounts.logout_cookie()
    }

    async fn current_user(&self, r: &Parts) -> Result<Option<User>, ApiError> {
        Ok(self.auth.shopper_of(r).ok().map(|s| s.user()))
    }

    async fn captcha(&self, r: &Parts, product_id: i64) -> Result<Captcha, ApiError> {
        let step = NewCaptcha {
            product_id: ProductId(product_id),
        };
        Ok(self.sale.run(&self.auth.shopper_of(r)?, step).await?)
    }

    async fn verify_captcha(
        &self,
        r: &Parts,
        product_id: i64,
        captcha_id: String,
        answer: String,
    ) -> Result<PurchasePass, ApiError> {
        let step = VerifyCaptcha {
            product_id: ProductId(product_id),
            captcha_id,
            answer,
        };
        Ok(self.sale.run(&self.auth.shopper_of(r)?, step).await?)
    }

    async fn purchase(
        &self,
        r: &Parts,
        product_id: i64,
        pass: String,
    ) -> Result<PurchaseOutcome, ApiError> {
        let step = Purchase {
            product_id: ProductId(product_id),
            pass,
        };
        Ok(self.sale.run(&self.auth.shopper_of(r)?, step).await?)
    }

    async fn my_orders(&self, r: &Parts) -> Result<Vec<Order>, ApiError> {
        Ok(self
            .sale
            .run(&self.auth.shopper_of(r)?, MyOrders {})
            .await?)
    }

    async fn checkout(&self, r: &Parts, order_id: String) -> Result<String, ApiError> {
        let shopper = self.auth.shopper_of(r)?;
        Ok(self.reservations.checkout(&shopper, &order_id).await?)
    }

    async fn cancel_order(&self, r: &Parts, order_id: String) -> Result<OrderStatus, ApiError> {
        let shopper = self.auth.shopper_of(r)?;
        Ok(self.reservations.cancel(&shopper, &order_id).await?)
    }

    async fn dev_pay(&self, r: &Parts, order_id: String, pay: bool) -> Result<(), ApiError> {
        let shopper = self.auth.shopper_of(r)?;
        Ok(self.reservations.decide(&shopper, &order_id, pay).await?)
    }

    async fn admin_products(&self, r: &Parts) -> Result<Vec<Product>, ApiError> {
        Ok(self.operations.products(&self.auth.admin(r)?).await?)
    }

    async fn save_product(&self, r: &Parts, id: i64, f: ProductForm) -> Result<Product, ApiError> {
        let admin = self.auth.admin(r)?;
        Ok(self.operations.save_product(&admin, id, &f).await?)
    }

    async fn delete_product(&self, r: &Parts, id: i64) -> Result<(), ApiError> {
        let admin = self.auth.admin(r)?;
        Ok(self
            .operations
            .delete_product(&admin, ProductId(id))
            .await?)
    }

    async fn admin_orders(&self, r: &Parts, filter: OrderFilter) -> Result<OrdersPage, ApiError> {
        let admin = self.auth.admin(r)?;
        Ok(self.operations.search_orders(&admin, &filter).await?)
    }

    async fn blacklist(&self, r: &Parts) -> Result<Vec<BlacklistEntry>, ApiError> {
        let admin = self.auth.admin(r)?;
        Ok(self.operations.blacklist_entries(&admin).await?)
    }

    async fn blacklist_add(&self, r: &Parts, user: String, reason: String) -> Result<(), ApiError> {
        let admin = self.auth.admin(r)?;
        Ok(self
            .operations
            .blacklist_add(&admin, &user, &reason)
            .await?)
    }

    async fn blacklist_remove(&self, r: &Parts, user_id: i64) -> Result<(), ApiError> {
        let admin = self.auth.admin(r)?;
        Ok(self.operations.blacklist_remove(&admin, user_id).await?)
    }

    async fn revoke_logins(&self, r: &Parts, user: String) -> Result<(), ApiError> {
        Ok(self
            .operations
            .revoke_logins(&self.auth.admin(r)?, &user)
            .await?)
    }

    async fn dashboard(&self, r: &Parts, product_id: i64) -> Result<Dashboard, ApiError> {
        let admin = self.auth.admin(r)?;
        Ok(self
            .operations
            .dashboard(&admin, ProductId(product_id))
            .await?)
    }
}
