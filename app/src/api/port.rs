//! The backend port: one method per user action. `server` implements it with the real
//! pipeline; `app` cannot depend on `server`, so the seam is this trait.

use crate::model::{
    ApiError, Captcha, Order, Product, PurchaseOutcome, PurchasePass, StockInfo, User,
};
use http::request::Parts;

/// A logged-in user and the `Set-Cookie` value that carries them.
pub struct SessionCookie {
    pub user: User,
    pub set_cookie: String,
}

#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    async fn products(&self, req: &Parts) -> Result<Vec<Product>, ApiError>;
    async fn product(&self, req: &Parts, id: i64) -> Result<Product, ApiError>;
    async fn stock(&self, req: &Parts, id: i64) -> Result<StockInfo, ApiError>;

    async fn register(
        &self,
        req: &Parts,
        name: String,
        password: String,
    ) -> Result<SessionCookie, ApiError>;
    async fn login(
        &self,
        req: &Parts,
        name: String,
        password: String,
    ) -> Result<SessionCookie, ApiError>;
    /// The `Set-Cookie` value that removes the auth cookie.
    fn logout(&self) -> String;
    async fn current_user(&self, req: &Parts) -> Result<Option<User>, ApiError>;

    async fn captcha(&self, req: &Parts, product_id: i64) -> Result<Captcha, ApiError>;
    async fn verify_captcha(
        &self,
        req: &Parts,
        product_id: i64,
        captcha_id: String,
        answer: String,
    ) -> Result<PurchasePass, ApiError>;
    async fn purchase(
        &self,
        req: &Parts,
        product_id: i64,
        pass: String,
    ) -> Result<PurchaseOutcome, ApiError>;
    async fn my_orders(&self, req: &Parts) -> Result<Vec<Order>, ApiError>;
}
