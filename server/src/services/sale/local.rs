//! The sale on this node: the stages a shopper's steps go through, in the order a purchase meets
//! them — blacklist, window, per-user limit, captcha pass, already bought, stock, queue. It knows
//! nothing of the ring; the actions string its steps together.

use crate::error::{AppError, AppResult};
use crate::ids::{Millis, ProductId, UserId};
use crate::metrics::Metrics;
use crate::repositories::db::in_time;
use crate::repositories::orders::{self, NewOrder};
use crate::repositories::products::ProductRow;
use crate::repositories::Db;
use crate::services::blacklist::Blacklist;
use crate::services::buyers::{Buyers, Claim};
use crate::services::captcha::{CaptchaError, Captchas, OpenPass};
use crate::services::catalog::{is_open, Catalog};
use crate::services::cooldown::Cooldown;
use crate::services::forward::Standing;
use crate::services::guard::Held;
use crate::services::limiter::retry_secs;
use crate::services::live::Live;
use crate::services::pending::Pending;
use crate::services::queue::{Enqueued, OrderQueue, QueueError};
use crate::services::stand_in::StandIn;
use crate::services::stock::{StockControl, Unit};
use app::model::{ApiError, Captcha, ErrorCode, Order, PurchasePass};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// What a sale is built from (see `startup`).
pub struct SaleStages {
    pub db: Db,
    pub buyers: Buyers,
    pub catalog: Catalog,
    pub blacklist: Blacklist,
    pub cooldown: Cooldown,
    pub captchas: Captchas,
    pub stock: StockControl,
    pub queue: Arc<dyn OrderQueue>,
    pub live: Live,
    pub metrics: Metrics,
}

/// One `Arc`: the purchase clones it onto its own task.
#[derive(Clone)]
pub struct LocalSale(Arc<Stages>);

struct Stages {
    db: Db,
    catalog: Catalog,
    blacklist: Blacklist,
    cooldown: Cooldown,
    captchas: Captchas,
    stock: StockControl,
    queue: Arc<dyn OrderQueue>,
    live: Live,
    pending: Pending,
    buyers: Buyers,
    stand_in: StandIn,
    metrics: Metrics,
}

impl LocalSale {
    /// Builds the sale and starts the sweep that keeps its maps bounded; the sweep ends with the
    /// last handle on the sale.
    pub fn new(s: SaleStages) -> Self {
        let sale = LocalSale(Arc::new(Stages {
            buyers: s.buyers,
            db: s.db,
            catalog: s.catalog,
            blacklist: s.blacklist,
            cooldown: s.cooldown,
            captchas: s.captchas,
            stock: s.stock,
            queue: s.queue,
            live: s.live,
            pending: Pending::default(),
            stand_in: StandIn::default(),
            metrics: s.metrics,
        }));
        tokio::spawn(sweep(Arc::downgrade(&sale.0)));
        sale
    }

    /// The checks every step repeats: not blacklisted, product on sale.
    pub(super) async fn admissible(
        &self,
        user: UserId,
        product: ProductId,
        now: Millis,
    ) -> AppResult<ProductRow> {
        if self.0.blacklist.contains(user.0) {
            return Err(AppError::code(
                ErrorCode::Blacklisted,
                "this account may not take part in sales",
            ));
        }
        let row = self.0.catalog.row(product, now).await?;
        if !is_open(&row, now) {
            return Err(AppError::code(
                ErrorCode::OutsideWindow,
                "the sale of this product is not open now",
            ));
        }
        Ok(row)
    }

    pub(super) async fn captcha(&self, user: UserId, product: ProductId) -> AppResult<Captcha> {
        let now = Millis::now();
        self.admissible(user, product, now).await?;
        let refused = |e| match e {
            CaptchaError::Busy => AppError::code(ErrorCode::Unavailable, "too busy, try again"),
            CaptchaError::TooMany(wait) => {
                let secs = retry_secs(wait);
                let message = format!("too many captchas: the next one in {secs} s");
                AppError::RateLimited(ApiError::new(ErrorCode::RateLimited, message), secs)
            }
            other => AppError::Internal(anyhow::Error::from(other)),
        };
        self.0.captchas.may_draw(user.0).map_err(refused)?;
        let ready = self.0.captchas.issue_ready(user.0, product.0, now.0);
        let issued = match ready.map_err(refused)? {
            Some(issued) => issued,
            // Nothing drawn ahead: draw now, off the async workers.
            None => {
                let captchas = self.0.captchas.clone();
                tokio::task::spawn_blocking(move || captchas.issue(user.0, product.0, now.0))
                    .await
                    .map_err(|e| AppError::Internal(e.into()))?
                    .map_err(refused)?
            }
        };
        Ok(Captcha {
            captcha_id: issued.captcha_id,
            image: format!("data:image/png;base64,{}", issued.image_png_base64),
            expires_in_ms: issued.expires_in_ms,
        })
    }

    pub(super) async fn verify(
        &self,
        user: UserId,
        product: ProductId,
        captcha_id: &str,
        answer: &str,
    ) -> AppResult<PurchasePass> {
        let now = Millis::now();
        self.admissible(user, product, now).await?;
        if captcha_id.len() > 64 || answer.len() > 32 {
            return Err(AppError::code(
                ErrorCode::BadRequest,
                "captcha id or answer too long",
            ));
        }
        let pass = self
            .0
            .captchas
            .verify(user.0, product.0, captcha_id, answer, now.0)
            .map_err(|_| {
                AppError::code(
                    ErrorCode::CaptchaInvalid,
                    "wrong or expired captcha: ask for a new one",
                )
            })?;
        Ok(PurchasePass { pass })
    }

    pub(super) async fn orders(&self, user: UserId) -> AppResult<Vec<Order>> {
        let stored = in_time(orders::for_user(&self.0.db, user.0)).await?;
        let mut all = self.0.pending.settle(user.0, &stored);
        all.extend(stored);
        Ok(all)
    }

    /// Once the stock is gone, most of the crowd is still pressing "Buy now": tell them at once,
    /// without spending their pass or starting their cooldown (the pass stays good if a unit
    /// comes back).
    pub(super) fn refuse_if_sold_out(
        &self,
        product: ProductId,
        user: UserId,
        now: Millis,
    ) -> AppResult<()> {
        if !self.0.stock.known_sold_out(product, now) {
            return Ok(());
        }
        Err(if self.0.buyers.has(product, user) {
            refusal::already_bought()
        } else {
            refusal::sold_out()
        })
    }

    /// The user's one answered purchase per interval. A stand-in first looks for the user's
    /// latest order: the owner's cooldowns are not known here.
    pub(super) async fn start_cooldown(
        &self,
        user: UserId,
        now: Millis,
        standing: Standing,
    ) -> AppResult<()> {
        let interval = self.0.cooldown.interval_ms();
        if standing == Standing::StandIn {
            let since = now.0 - interval;
            let latest = in_time(orders::latest_since(&self.0.db, user.0, since)).await?;
            if let Some(at) = latest {
                return Err(too_frequent(at + interval - now.0, interval));
            }
        }
        self.0
            .cooldown
            .try_claim(user.0, now.0)
            .map_err(|wait_ms| too_frequent(wait_ms, interval))
    }

    /// The purchase pass, checked but not spent: a purchase refused before it is spent (by the
    /// cooldown, say) keeps it, and one without a good pass never reaches the cooldown, so a
    /// link to a purchase on another site cannot spend a shopper's interval. A stand-in takes
    /// only the passes it issued: the owner's spent ones are not known here.
    pub(super) fn open_pass(
        &self,
        pass: &str,
        user: UserId,
        product: ProductId,
        now: Millis,
        standing: Standing,
    ) -> AppResult<OpenPass> {
        let issued_after = match standing {
            Standing::Owner => i64::MIN,
            Standing::StandIn => self.0.stand_in.begin(now.0),
        };
        let opened = (!pass.is_empty())
            .then(|| {
                self.0
                    .captchas
                    .open_pass(pass, user.0, product.0, now.0, issued_after)
                    .ok()
            })
            .flatten();
        opened.ok_or_else(no_pass)
    }

    pub(super) fn spend(&self, pass: OpenPass) -> AppResult<()> {
        self.0.captchas.spend(pass).map_err(|_| no_pass())
    }

    /// The user's one purchase of the product, claimed in memory; `None` when they have it. A
    /// stand-in for an unreachable owner also asks the database: orders the owner took after
    /// this node read the product's buyers reached the database, not this node's memory.
    pub(super) async fn claim(
        &self,
        product: ProductId,
        user: UserId,
        order: uuid::Uuid,
        standing: Standing,
    ) -> AppResult<Option<Held<Claim>>> {
        let Some(claim) = self.0.buyers.claim(product, user, order).await? else {
            return Ok(None);
        };
        let stand_in = standing == Standing::StandIn;
        if stand_in && in_time(orders::exists(&self.0.db, product.0, user.0)).await? {
            claim.keep();
            return Ok(None);
        }
        Ok(Some(claim))
    }

    /// A unit for the order, or `None` when sold out.
    pub(super) async fn take_unit(
        &self,
        product: ProductId,
        user: UserId,
        order: uuid::Uuid,
        now: Millis,
    ) -> AppResult<Option<Held<Unit>>> {
        self.0.stock.take(product, user, order, now).await.map_err(|e| {
            tracing::error!(error = %format!("{e:#}"), %product, "quantity control unreachable");
            AppError::code(ErrorCode::Unavailable, "the sale is busy; please try again")
        })
    }

    pub(super) async fn submit(
        &self,
        order: NewOrder,
        product_name: String,
    ) -> Result<Enqueued, QueueError> {
        let answer = self.0.queue.submit(order.clone()).await;
        if let Ok(Enqueued::Queued | Enqueued::Pending) = answer {
            self.0
                .live
                .queued(ProductId(order.product_id), UserId(order.user_id));
            self.0.pending.add(order, product_name);
        }
        answer
    }

    pub(super) fn retry_at(&self, now: Millis) -> i64 {
        now.0 + self.0.cooldown.interval_ms()
    }

    /// One purchase answered, for `/metrics` and the dashboard.
    pub(super) fn record(&self, product: ProductId, outcome: &str, took: Duration) {
        self.0
            .metrics
            .purchase(product.0, outcome, took.as_secs_f64(), crate::now_ms());
    }

    /// An admin changed the product: its cached row and "sold out" are stale.
    pub fn product_changed(&self, product: ProductId) {
        self.0.catalog.forget(product);
        self.0.stock.reset(product);
    }

    /// Where the units come from; its leases go back at shutdown.
    pub fn stock(&self) -> StockControl {
        self.0.stock.clone()
    }

    pub async fn queue_depth(&self) -> i64 {
        self.0.queue.depth().await
    }

    /// Orders accepted by the broker and not yet seen in the database.
    pub fn consumer_lag(&self) -> usize {
        self.0.pending.len()
    }

    /// The sizes of the sale's in-memory maps, by name.
    pub fn map_sizes(&self) -> [(&'static str, usize); 5] {
        [
            ("cooldown", self.0.cooldown.len()),
            ("captcha_pool", self.0.captchas.pooled()),
            ("captchas", self.0.captchas.outstanding()),
            ("spent_passes", self.0.captchas.spent_passes()),
            ("pending_orders", self.0.pending.len()),
        ]
    }
}

fn too_frequent(wait_ms: i64, interval_ms: i64) -> AppError {
    let secs = (wait_ms.max(1) + 999) / 1000;
    let message = format!(
        "one purchase every {} s: try again in {secs} s",
        interval_ms / 1000
    );
    AppError::RateLimited(ApiError::new(ErrorCode::TooFrequent, message), secs as u64)
}

fn no_pass() -> AppError {
    AppError::code(
        ErrorCode::CaptchaRequired,
        "solve the captcha first: the purchase pass is missing, used or expired",
    )
}

/// Every second, drops what has expired from the sale's maps.
async fn sweep(sale: Weak<Stages>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let Some(stages) = sale.upgrade() else { return };
        let now = crate::now_ms();
        if stages.captchas.wants_drawings() && stages.catalog.sale_near(Millis(now)).await {
            stages.captchas.prepare(now);
        }
        // Walking maps of hundreds of thousands of entries takes milliseconds: on a blocking
        // thread, the requests queued on this worker do not wait for it.
        let swept = tokio::task::spawn_blocking(move || {
            stages.cooldown.sweep(now);
            stages.captchas.sweep(now);
            stages.pending.sweep(now);
        });
        if let Err(e) = swept.await {
            tracing::error!(error = %e, "sweep failed");
        }
    }
}

/// The two refusals every step of a purchase may give.
pub(super) mod refusal {
    use crate::error::AppError;
    use app::model::ErrorCode;

    pub fn sold_out() -> AppError {
        AppError::code(ErrorCode::SoldOut, "sold out: every unit has been sold")
    }

    pub fn already_bought() -> AppError {
        AppError::code(
            ErrorCode::AlreadyBought,
            "you already have an order for this product",
        )
    }
}
