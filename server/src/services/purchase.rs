//! The purchase pipeline that both doors (server functions and the HTTP API) go through:
//! blacklist → window → per-user limit → captcha pass → already bought → stock → queue.

use super::blacklist::Blacklist;
use super::buyers::Buyers;
use super::captcha::{CaptchaError, Captchas};
use super::cookie::{Claims, CookieCodec};
use super::cooldown::Cooldown;
use super::forward::{Forwarder, Op};
use super::pending::Pending;
use super::queue::{Enqueued, OrderQueue};
use super::stock::{StockControl, Take};
use super::window::{is_open, Catalog};
use crate::error::{AppError, AppResult};
use crate::now_ms;
use crate::repositories::orders::{self, NewOrder};
use crate::repositories::products::ProductRow;
use crate::repositories::{products, Db};
use app::model::{
    Captcha, ErrorCode, Order, OrderStatus, Product, PurchaseOutcome, PurchasePass, StockInfo,
};
use std::sync::Arc;

#[derive(Clone)]
pub struct Pipeline {
    pub db: Db,
    pub cookies: CookieCodec,
    pub cooldown: Cooldown,
    pub blacklist: Blacklist,
    pub catalog: Catalog,
    pub captchas: Captchas,
    pub stock: StockControl,
    pub queue: Arc<dyn OrderQueue>,
    pub pending: Pending,
    pub buyers: Buyers,
    pub metrics: crate::metrics::Metrics,
    /// Set on a ring of several nodes: users owned elsewhere are forwarded there.
    pub forwarder: Option<Forwarder>,
}

impl Pipeline {
    pub fn authenticate(&self, headers: &axum::http::HeaderMap) -> AppResult<Claims> {
        self.cookies
            .from_headers(headers, now_ms())
            .map_err(|_| AppError::Api(app::model::ApiError::unauthenticated()))
    }

    pub async fn products(&self) -> AppResult<Vec<Product>> {
        let now = now_ms();
        let rows = products::list(&self.db).await?;
        let mut list: Vec<Product> = rows
            .iter()
            .map(|r| self.catalog.view(r, r.stock - r.sold, now))
            .collect();
        // What can be bought now first, then what comes next, then what is over.
        list.sort_by_key(|p| match p.phase() {
            app::model::SalePhase::OnSale => 0,
            app::model::SalePhase::Upcoming => 1,
            app::model::SalePhase::Ended => 2,
        });
        Ok(list)
    }

    async fn row(&self, id: i64, now: i64) -> AppResult<ProductRow> {
        self.catalog
            .get(id, now)
            .await?
            .ok_or_else(|| AppError::Api(app::model::ApiError::not_found("product")))
    }

    pub async fn product(&self, id: i64) -> AppResult<Product> {
        let now = now_ms();
        let row = products::get(&self.db, id)
            .await?
            .ok_or_else(|| AppError::Api(app::model::ApiError::not_found("product")))?;
        Ok(self.catalog.view(&row, row.stock - row.sold, now))
    }

    pub async fn stock_info(&self, id: i64) -> AppResult<StockInfo> {
        let now = now_ms();
        let row = self.row(id, now).await?;
        Ok(StockInfo {
            product_id: id,
            stock_left: row.stock - row.sold,
            server_time: now,
        })
    }

    /// The checks every step of a purchase repeats: not blacklisted, product on sale.
    async fn admissible(&self, user: &Claims, product_id: i64, now: i64) -> AppResult<ProductRow> {
        if self.blacklist.contains(user.user_id) {
            return Err(AppError::code(
                ErrorCode::Blacklisted,
                "this account may not take part in sales",
            ));
        }
        let row = self.row(product_id, now).await?;
        if !is_open(&row, now) {
            return Err(AppError::code(
                ErrorCode::OutsideWindow,
                "the sale of this product is not open now",
            ));
        }
        Ok(row)
    }

    /// The user's owner on the ring answers, or `None` when that is this node.
    async fn forwarded<T: serde::de::DeserializeOwned>(
        &self,
        user: &Claims,
        op: impl FnOnce() -> Op,
    ) -> Option<AppResult<T>> {
        match &self.forwarder {
            Some(f) => f.route(user, op).await,
            None => None,
        }
    }

    pub async fn captcha(&self, user: &Claims, product_id: i64) -> AppResult<Captcha> {
        let op = || Op::Captcha { product_id };
        match self.forwarded(user, op).await {
            Some(answer) => answer,
            None => self.captcha_here(user, product_id).await,
        }
    }

    pub async fn captcha_here(&self, user: &Claims, product_id: i64) -> AppResult<Captcha> {
        let now = now_ms();
        self.admissible(user, product_id, now).await?;
        let (captchas, uid) = (self.captchas.clone(), user.user_id);
        let issued = tokio::task::spawn_blocking(move || captchas.issue(uid, product_id, now))
            .await
            .map_err(|e| AppError::Internal(e.into()))?
            .map_err(|e| match e {
                CaptchaError::Busy => AppError::code(ErrorCode::Unavailable, "too busy, try again"),
                other => AppError::Internal(other.into()),
            })?;
        Ok(Captcha {
            captcha_id: issued.captcha_id,
            image: format!("data:image/png;base64,{}", issued.image_png_base64),
            expires_in_ms: issued.expires_in_ms,
        })
    }

    pub async fn verify_captcha(
        &self,
        user: &Claims,
        product_id: i64,
        captcha_id: &str,
        answer: &str,
    ) -> AppResult<PurchasePass> {
        let op = || Op::Verify {
            product_id,
            captcha_id: captcha_id.to_string(),
            answer: answer.to_string(),
        };
        match self.forwarded(user, op).await {
            Some(reply) => reply,
            None => self.verify_here(user, product_id, captcha_id, answer).await,
        }
    }

    pub async fn verify_here(
        &self,
        user: &Claims,
        product_id: i64,
        captcha_id: &str,
        answer: &str,
    ) -> AppResult<PurchasePass> {
        let now = now_ms();
        self.admissible(user, product_id, now).await?;
        if captcha_id.len() > 64 || answer.len() > 32 {
            return Err(AppError::code(
                ErrorCode::BadRequest,
                "captcha id or answer too long",
            ));
        }
        let pass = self
            .captchas
            .verify(user.user_id, product_id, captcha_id, answer, now)
            .map_err(|_| {
                AppError::code(
                    ErrorCode::CaptchaInvalid,
                    "wrong or expired captcha: ask for a new one",
                )
            })?;
        Ok(PurchasePass { pass })
    }

    pub async fn purchase(
        &self,
        user: &Claims,
        product_id: i64,
        pass: &str,
    ) -> AppResult<PurchaseOutcome> {
        let op = || Op::Purchase {
            product_id,
            pass: pass.to_string(),
        };
        match self.forwarded(user, op).await {
            Some(outcome) => outcome,
            None => self.purchase_here(user, product_id, pass).await,
        }
    }

    /// One purchase, timed and counted by outcome for `/metrics` and the dashboard.
    pub async fn purchase_here(
        &self,
        user: &Claims,
        product_id: i64,
        pass: &str,
    ) -> AppResult<PurchaseOutcome> {
        let started = std::time::Instant::now();
        let result = self.purchase_steps(user, product_id, pass).await;
        let outcome = match &result {
            Ok(_) => "accepted",
            Err(AppError::Api(e) | AppError::RateLimited(e, _)) => e.error.as_str(),
            Err(AppError::Internal(_)) => "internal",
        };
        self.metrics.purchase(
            product_id,
            outcome,
            started.elapsed().as_secs_f64(),
            now_ms(),
        );
        result
    }

    async fn purchase_steps(
        &self,
        user: &Claims,
        product_id: i64,
        pass: &str,
    ) -> AppResult<PurchaseOutcome> {
        let now = now_ms();
        let row = self.admissible(user, product_id, now).await?;
        // Once the stock is gone, most of the crowd is still pressing "Buy now": tell them at
        // once, without spending their pass or starting their cooldown (the pass stays good if
        // a unit comes back).
        if self.stock.known_sold_out(product_id, now) {
            return Err(if self.buyers.has(product_id, user.user_id) {
                already_bought()
            } else {
                sold_out()
            });
        }
        if let Err(wait_ms) = self.cooldown.try_claim(user.user_id, now) {
            let secs = (wait_ms + 999) / 1000;
            let message = format!(
                "one purchase every {} s: try again in {secs} s",
                self.cooldown.interval_ms() / 1000
            );
            return Err(AppError::RateLimited(
                app::model::ApiError::new(ErrorCode::TooFrequent, message),
                secs as u64,
            ));
        }
        if pass.is_empty()
            || self
                .captchas
                .redeem_pass(pass, user.user_id, product_id, now)
                .is_err()
        {
            return Err(AppError::code(
                ErrorCode::CaptchaRequired,
                "solve the captcha first: the purchase pass is missing, used or expired",
            ));
        }
        // Claimed before the stock is touched: a shopper who already bought is told so (rather
        // than "sold out") and costs no unit. Both steps are in memory on a single node.
        if !self.claim(user, product_id).await? {
            return Err(already_bought());
        }
        let taken = match self.stock.take(product_id, user.user_id, now).await {
            Ok(taken) => taken,
            Err(e) => {
                self.buyers.release(product_id, user.user_id);
                tracing::error!(error = %format!("{e:#}"), product_id, "quantity control unreachable");
                return Err(AppError::code(
                    ErrorCode::Unavailable,
                    "the sale is busy; please try again",
                ));
            }
        };
        if taken == Take::SoldOut {
            self.buyers.release(product_id, user.user_id);
            return Err(sold_out());
        }
        let order = NewOrder {
            order_id: uuid::Uuid::now_v7(),
            product_id,
            user_id: user.user_id,
            created_at: now,
        };
        let order_id = order.order_id.to_string();
        let status = match self.queue.submit(order.clone()).await {
            Ok(Enqueued::Confirmed) => OrderStatus::Confirmed,
            Ok(Enqueued::Queued) => {
                self.pending.add(order, row.name);
                OrderStatus::Queued
            }
            // The database has their order: the claim stays.
            Ok(Enqueued::Duplicate) => {
                self.stock.give_back(product_id, user.user_id).await;
                return Err(already_bought());
            }
            Err(e) => {
                tracing::error!(error = %e, product_id, "order not queued; unit returned to stock");
                self.stock.give_back(product_id, user.user_id).await;
                self.buyers.release(product_id, user.user_id);
                return Err(AppError::code(
                    ErrorCode::Unavailable,
                    "the order could not be taken right now; please try again",
                ));
            }
        };
        Ok(PurchaseOutcome {
            order_id,
            status,
            retry_at: now + self.cooldown.interval_ms(),
        })
    }

    /// The user's one purchase of the product, claimed in memory. A node standing in for an
    /// unreachable owner also asks the database: orders the owner took after this node read
    /// the product's buyers reached the database, not this node's memory.
    async fn claim(&self, user: &Claims, product_id: i64) -> AppResult<bool> {
        if !self.buyers.claim(product_id, user.user_id).await? {
            return Ok(false);
        }
        let standing_in = self
            .forwarder
            .as_ref()
            .is_some_and(|f| !f.owns(user.user_id));
        if !standing_in {
            return Ok(true);
        }
        match orders::exists(&self.db, product_id, user.user_id).await {
            Ok(bought) => Ok(!bought),
            Err(e) => {
                self.buyers.release(product_id, user.user_id);
                Err(e.into())
            }
        }
    }

    pub async fn orders(&self, user: &Claims) -> AppResult<Vec<Order>> {
        match self.forwarded(user, || Op::Orders).await {
            Some(list) => list,
            None => self.orders_here(user).await,
        }
    }

    pub async fn orders_here(&self, user: &Claims) -> AppResult<Vec<Order>> {
        let stored = orders::for_user(&self.db, user.user_id).await?;
        let mut all = self.pending.settle(user.user_id, &stored);
        all.extend(stored);
        Ok(all)
    }
}

fn sold_out() -> AppError {
    AppError::code(ErrorCode::SoldOut, "sold out: every unit has been sold")
}

fn already_bought() -> AppError {
    AppError::code(
        ErrorCode::AlreadyBought,
        "you already have an order for this product",
    )
}
