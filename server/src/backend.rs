//! The app's backend port, implemented by the pipeline: the server functions' door in.

use crate::error::AppError;
use crate::services::accounts::Accounts;
use crate::services::cookie::Claims;
use crate::services::purchase::Pipeline;
use app::api::{Backend, SessionCookie};
use app::model::{
    ApiError, BlacklistEntry, Captcha, Dashboard, Order, OrderFilter, OrdersPage, Product,
    ProductForm, PurchaseOutcome, PurchasePass, Role, StockInfo, User,
};
use axum::extract::ConnectInfo;
use http::request::Parts;
use std::net::{IpAddr, SocketAddr};

#[derive(Clone)]
pub struct PipelineBackend {
    pub pipeline: Pipeline,
    pub accounts: Accounts,
}

pub fn client_ip(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

impl PipelineBackend {
    fn user(&self, req: &Parts) -> Result<Claims, ApiError> {
        self.pipeline
            .authenticate(&req.headers)
            .map_err(AppError::into_api)
    }

    fn admin(&self, req: &Parts) -> Result<Claims, ApiError> {
        let user = self.user(req)?;
        if user.role == Role::Admin {
            Ok(user)
        } else {
            Err(ApiError::forbidden())
        }
    }

    fn session(&self, user: User, claims: &Claims) -> SessionCookie {
        SessionCookie {
            user,
            set_cookie: self.accounts.cookies.set_cookie(claims),
        }
    }
}

#[async_trait::async_trait]
impl Backend for PipelineBackend {
    async fn products(&self, _req: &Parts) -> Result<Vec<Product>, ApiError> {
        self.pipeline.products().await.map_err(AppError::into_api)
    }

    async fn product(&self, _req: &Parts, id: i64) -> Result<Product, ApiError> {
        self.pipeline.product(id).await.map_err(AppError::into_api)
    }

    async fn stock(&self, _req: &Parts, id: i64) -> Result<StockInfo, ApiError> {
        self.pipeline
            .stock_info(id)
            .await
            .map_err(AppError::into_api)
    }

    async fn register(
        &self,
        req: &Parts,
        name: String,
        password: String,
    ) -> Result<SessionCookie, ApiError> {
        let (user, claims) = self
            .accounts
            .register(&name, &password, client_ip(req))
            .await
            .map_err(AppError::into_api)?;
        Ok(self.session(user, &claims))
    }

    async fn login(
        &self,
        req: &Parts,
        name: String,
        password: String,
    ) -> Result<SessionCookie, ApiError> {
        let (user, claims) = self
            .accounts
            .login(&name, &password, client_ip(req))
            .await
            .map_err(AppError::into_api)?;
        Ok(self.session(user, &claims))
    }

    fn logout(&self) -> String {
        self.accounts.cookies.clear_cookie()
    }

    async fn current_user(&self, req: &Parts) -> Result<Option<User>, ApiError> {
        Ok(self.user(req).ok().map(|c| User {
            id: c.user_id,
            name: c.name,
            role: c.role,
        }))
    }

    async fn captcha(&self, req: &Parts, product_id: i64) -> Result<Captcha, ApiError> {
        let user = self.user(req)?;
        self.pipeline
            .captcha(&user, product_id)
            .await
            .map_err(AppError::into_api)
    }

    async fn verify_captcha(
        &self,
        req: &Parts,
        product_id: i64,
        captcha_id: String,
        answer: String,
    ) -> Result<PurchasePass, ApiError> {
        let user = self.user(req)?;
        self.pipeline
            .verify_captcha(&user, product_id, &captcha_id, &answer)
            .await
            .map_err(AppError::into_api)
    }

    async fn purchase(
        &self,
        req: &Parts,
        product_id: i64,
        pass: String,
    ) -> Result<PurchaseOutcome, ApiError> {
        let user = self.user(req)?;
        self.pipeline
            .purchase(&user, product_id, &pass)
            .await
            .map_err(AppError::into_api)
    }

    async fn my_orders(&self, req: &Parts) -> Result<Vec<Order>, ApiError> {
        let user = self.user(req)?;
        self.pipeline
            .orders(&user)
            .await
            .map_err(AppError::into_api)
    }

    async fn admin_products(&self, req: &Parts) -> Result<Vec<Product>, ApiError> {
        self.admin(req)?;
        self.pipeline.products().await.map_err(AppError::into_api)
    }

    async fn save_product(
        &self,
        req: &Parts,
        id: i64,
        form: ProductForm,
    ) -> Result<Product, ApiError> {
        self.admin(req)?;
        let saved = if id == 0 {
            self.pipeline.create_product(&form).await
        } else {
            self.pipeline.update_product(id, &form).await
        };
        saved.map_err(AppError::into_api)
    }

    async fn delete_product(&self, req: &Parts, id: i64) -> Result<(), ApiError> {
        self.admin(req)?;
        self.pipeline
            .delete_product(id)
            .await
            .map_err(AppError::into_api)
    }

    async fn admin_orders(&self, req: &Parts, filter: OrderFilter) -> Result<OrdersPage, ApiError> {
        self.admin(req)?;
        self.pipeline
            .search_orders(&filter)
            .await
            .map_err(AppError::into_api)
    }

    async fn blacklist(&self, req: &Parts) -> Result<Vec<BlacklistEntry>, ApiError> {
        self.admin(req)?;
        self.pipeline
            .blacklist_entries()
            .await
            .map_err(AppError::into_api)
    }

    async fn blacklist_add(
        &self,
        req: &Parts,
        user: String,
        reason: String,
    ) -> Result<(), ApiError> {
        self.admin(req)?;
        self.pipeline
            .blacklist_add(&user, &reason)
            .await
            .map_err(AppError::into_api)
    }

    async fn blacklist_remove(&self, req: &Parts, user_id: i64) -> Result<(), ApiError> {
        self.admin(req)?;
        self.pipeline
            .blacklist_remove(user_id)
            .await
            .map_err(AppError::into_api)
    }

    async fn dashboard(&self, req: &Parts, product_id: i64) -> Result<Dashboard, ApiError> {
        self.admin(req)?;
        self.pipeline
            .dashboard(product_id)
            .await
            .map_err(AppError::into_api)
    }
}
