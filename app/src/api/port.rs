//! The backend port: one method per user action. `server` implements it with the real
//! pipeline; `app` cannot depend on `server`, so the seam is this trait.

use crate::model::{
    ApiError, BlacklistEntry, Captcha, Dashboard, LiveStock, Order, OrderFilter, OrderStatus,
    OrdersPage, Product, ProductForm, PurchaseOutcome, PurchasePass, User,
};
use http::request::Parts;

/// A logged-in user and the `Set-Cookie` value that carries them.
pub struct SessionCookie {
    pub user: User,
    pub set_cookie: String,
    /// On a ring of nodes: the load balancer's routing cookie (the shopper's owner node).
    pub route_cookie: Option<String>,
}

#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    async fn products(&self, req: &Parts) -> Result<Vec<Product>, ApiError>;
    async fn product(&self, req: &Parts, id: i64) -> Result<Product, ApiError>;
    async fn stock(&self, req: &Parts, id: i64) -> Result<LiveStock, ApiError>;

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
    async fn checkout(&self, req: &Parts, order_id: String) -> Result<String, ApiError>;
    async fn cancel_order(&self, req: &Parts, order_id: String) -> Result<OrderStatus, ApiError>;
    async fn dev_pay(&self, req: &Parts, order_id: String, pay: bool) -> Result<(), ApiError>;

    // Admin only: each answers 401 without login and 403 for a shopper.
    async fn admin_products(&self, req: &Parts) -> Result<Vec<Product>, ApiError>;
    /// Creates (`id` = 0) or edits a product.
    async fn save_product(
        &self,
        req: &Parts,
        id: i64,
        form: ProductForm,
    ) -> Result<Product, ApiError>;
    async fn delete_product(&self, req: &Parts, id: i64) -> Result<(), ApiError>;
    async fn admin_orders(&self, req: &Parts, filter: OrderFilter) -> Result<OrdersPage, ApiError>;
    async fn blacklist(&self, req: &Parts) -> Result<Vec<BlacklistEntry>, ApiError>;
    async fn blacklist_add(
        &self,
        req: &Parts,
        user: String,
        reason: String,
    ) -> Result<(), ApiError>;
    async fn blacklist_remove(&self, req: &Parts, user_id: i64) -> Result<(), ApiError>;
    /// Every login of this user so far stops counting.
    async fn revoke_logins(&self, req: &Parts, user: String) -> Result<(), ApiError>;
    async fn dashboard(&self, req: &Parts, product_id: i64) -> Result<Dashboard, ApiError>;
}
