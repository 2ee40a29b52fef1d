//! What the shop's operators do: edit sales, search orders, manage the blacklist, watch a sale.
//! Every operation takes the [`Admin`] proof. Every change reaches the running sale at once
//! (product cache and stock reset, blacklist reloaded).

use super::auth::Admin;
use super::blacklist::Blacklist;
use super::catalog::Catalog;
use super::product_form::validate;
use super::queue::rabbit::dead::DeadLetters;
use super::revocations::Revocations;
use super::sale::LocalSale;
use crate::error::{AppError, AppResult};
use crate::ids::ProductId;
use crate::metrics::{Metrics, HISTORY_SECS};
use crate::now_ms;
use crate::repositories::products::{self, Change, Deleted};
use crate::repositories::{blacklist, orders, users, Db};
use app::model::{
    ApiError, BlacklistEntry, Dashboard, ErrorCode, FieldError, OrderFilter, OrderStatus,
    OrdersPage, Product, ProductForm, RefusalCount,
};

pub const PER_PAGE: i64 = 50;
/// At most this many rows in one CSV export.
pub const CSV_MAX: i64 = 100_000;

#[derive(Clone)]
pub struct Operations {
    db: Db,
    catalog: Catalog,
    sale: LocalSale,
    blacklist: Blacklist,
    revocations: Revocations,
    metrics: Metrics,
    dead_letters: DeadLetters,
}

/// What the operators' actions reach besides the database.
pub struct Reaches {
    pub catalog: Catalog,
    pub sale: LocalSale,
    pub blacklist: Blacklist,
    pub revocations: Revocations,
    pub metrics: Metrics,
    /// The dead-letter queue the dashboard counts.
    pub dead_letters: DeadLetters,
}

impl Operations {
    pub fn new(db: Db, r: Reaches) -> Self {
        Operations {
            db,
            catalog: r.catalog,
            sale: r.sale,
            blacklist: r.blacklist,
            revocations: r.revocations,
            metrics: r.metrics,
            dead_letters: r.dead_letters,
        }
    }

    pub async fn products(&self, _: &Admin) -> AppResult<Vec<Product>> {
        self.catalog.products().await
    }

    /// Creates (`id` = 0) or edits a product.
    pub async fn save_product(
        &self,
        admin: &Admin,
        id: i64,
        form: &ProductForm,
    ) -> AppResult<Product> {
        if id == 0 {
            self.create_product(admin, form).await
        } else {
            self.update_product(admin, ProductId(id), form).await
        }
    }

    pub async fn create_product(&self, _: &Admin, form: &ProductForm) -> AppResult<Product> {
        let p = validate(form)?;
        let id = products::insert(&self.db, &p.row(), now_ms()).await?;
        self.catalog.product(ProductId(id)).await
    }

    pub async fn update_product(
        &self,
        _: &Admin,
        id: ProductId,
        form: &ProductForm,
    ) -> AppResult<Product> {
        let p = validate(form)?;
        match products::update(&self.db, id.0, &p.row()).await? {
            Change::Done => {}
            Change::NotFound => return Err(AppError::Api(ApiError::not_found("product"))),
            Change::BelowCommitted(n) => {
                let mut e = ApiError::new(
                    ErrorCode::Conflict,
                    "stock is below what is already sold or handed out",
                );
                e.fields = vec![FieldError {
                    field: "stock".into(),
                    message: format!("at least {n}"),
                }];
                return Err(AppError::Api(e));
            }
        }
        self.sale.product_changed(id);
        self.catalog.product(id).await
    }

    /// Refused while the product has orders, or units out that could still become orders.
    pub async fn delete_product(&self, _: &Admin, id: ProductId) -> AppResult<()> {
        let refusal = match products::delete_unsold(&self.db, id.0).await? {
            Deleted::Done => {
                self.catalog.forget(id);
                return Ok(());
            }
            Deleted::NotFound => return Err(AppError::Api(ApiError::not_found("product"))),
            Deleted::HasOrders => "this product has orders: it cannot be deleted".to_string(),
            Deleted::UnitsOut(n) => format!(
                "{n} units of this product are leased to stock owners or in orders still queued: \
                 it can be deleted once they are sold or handed back (stop the sale's stock \
                 owners, or run `server reconcile` once the queue is empty)"
            ),
        };
        Err(AppError::code(ErrorCode::Conflict, refusal))
    }

    pub async fn search_orders(&self, _: &Admin, filter: &OrderFilter) -> AppResult<OrdersPage> {
        let page = filter.page.unwrap_or(1).clamp(1, 1_000_000);
        let (orders, total) =
            orders::search(&self.db, filter, (page - 1) * PER_PAGE, PER_PAGE).await?;
        Ok(OrdersPage {
            orders,
            page,
            per_page: PER_PAGE,
            total,
        })
    }

    /// The filtered orders as CSV (RFC 4180 quoting; cells that a spreadsheet would run as a
    /// formula are prefixed with a quote).
    pub async fn orders_csv(&self, _: &Admin, filter: &OrderFilter) -> AppResult<String> {
        let (orders, _) = orders::search(&self.db, filter, 0, CSV_MAX).await?;
        let mut out = String::from(
            "order_id,product_id,product_name,user_id,user_name,status,created_at\r\n",
        );
        for o in orders {
            let cells = [
                o.order_id,
                o.product_id.to_string(),
                o.product_name,
                o.user_id.to_string(),
                o.user_name,
                o.status.as_str().to_string(),
                o.created_at.to_string(),
            ];
            let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
            out.push_str(&line.join(","));
            out.push_str("\r\n");
        }
        Ok(out)
    }

    pub async fn blacklist_entries(&self, _: &Admin) -> AppResult<Vec<BlacklistEntry>> {
        Ok(blacklist::list(&self.db)
            .await?
            .into_iter()
            .map(|e| BlacklistEntry {
                user_id: e.user_id,
                user_name: e.user_name,
                reason: e.reason,
                created_at: e.created_at,
            })
            .collect())
    }

    pub async fn blacklist_add(&self, _: &Admin, user_name: &str, reason: &str) -> AppResult<()> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 300 {
            return Err(field_error("reason", "1 to 300 characters"));
        }
        let Some(user) = users::find_by_name(&self.db, user_name.trim()).await? else {
            return Err(field_error("user", "no such user"));
        };
        self.blacklist.add(user.user.id, reason).await?;
        Ok(())
    }

    pub async fn blacklist_remove(&self, _: &Admin, user_id: i64) -> AppResult<()> {
        if self.blacklist.remove(user_id).await? {
            Ok(())
        } else {
            Err(AppError::Api(ApiError::not_found("blacklist entry")))
        }
    }

    /// Every login of this user so far stops counting (on this node at once, on the others
    /// within seconds): a stolen cookie, or a role taken away, is over.
    pub async fn revoke_logins(&self, _: &Admin, user_name: &str) -> AppResult<()> {
        let Some(user) = users::find_by_name(&self.db, user_name.trim()).await? else {
            return Err(field_error("user", "no such user"));
        };
        let now = now_ms();
        users::revoke_logins(&self.db, user.user.id, now).await?;
        self.revocations.revoked(user.user.id, now);
        Ok(())
    }

    pub async fn dashboard(&self, _: &Admin, product: ProductId) -> AppResult<Dashboard> {
        let (now, product_id) = (now_ms(), product.0);
        let row = products::get(&self.db, product_id)
            .await?
            .ok_or_else(|| AppError::Api(ApiError::not_found("product")))?;
        let (p50_ms, p99_ms) = self.metrics.latency_percentiles();
        let states = orders::count_by_status(&self.db, Some(product_id)).await?;
        let count = |st: OrderStatus| states.iter().find(|(s, _)| *s == st).map_or(0, |c| c.1);
        Ok(Dashboard {
            reserved: count(OrderStatus::Reserved),
            paid: count(OrderStatus::Paid),
            expired: count(OrderStatus::Expired),
            cancelled: count(OrderStatus::Cancelled),
            product_id,
            product_name: row.name,
            stock: row.stock,
            sold: row.sold,
            left: row.stock - row.sold,
            orders_per_second: self.metrics.per_second(product_id, HISTORY_SECS, now),
            queue_depth: self.sale.queue_depth().await,
            consumer_lag: self.sale.consumer_lag() as i64,
            dead_letters: self.dead_letters.depth().await,
            refusals: self
                .metrics
                .outcomes()
                .into_iter()
                .filter(|(code, _)| code != "accepted")
                .map(|(code, count)| RefusalCount { code, count })
                .collect(),
            p50_ms,
            p99_ms,
            server_time: now,
        })
    }
}

fn field_error(field: &str, message: &str) -> AppError {
    let mut e = ApiError::new(ErrorCode::BadRequest, message);
    e.fields = vec![FieldError {
        field: field.into(),
        message: message.into(),
    }];
    AppError::Api(e)
}

fn csv_cell(raw: &str) -> String {
    let guarded = if raw.starts_with(['=', '+', '-', '@']) {
        format!("'{raw}")
    } else {
        raw.to_string()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=cmd()"), "'=cmd()");
    }
}
