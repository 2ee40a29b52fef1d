//! The sale window: each product sells only between its start and end (403 `outside_window`
//! otherwise). Product rows are cached for a second so the hot path does not query for them.

use crate::repositories::products::{self as repo, ProductRow};
use crate::repositories::Db;
use app::model::{format_cents, phase_at, Product, SalePhase};
use dashmap::DashMap;
use std::sync::Arc;

const CACHE_MS: i64 = 1_000;

#[derive(Clone)]
pub struct Catalog {
    db: Db,
    cache: Arc<DashMap<i64, (i64, Option<ProductRow>)>>,
    preview_ms: i64,
}

impl Catalog {
    pub fn new(db: Db, preview_ms: i64) -> Self {
        Catalog {
            db,
            cache: Arc::default(),
            preview_ms,
        }
    }

    /// The product (at most a second old), or `None` when there is no such product.
    pub async fn get(&self, id: i64, now: i64) -> Result<Option<ProductRow>, sqlx::Error> {
        if let Some(hit) = self.cache.get(&id) {
            if now - hit.0 < CACHE_MS {
                return Ok(hit.1.clone());
            }
        }
        let row = repo::get(&self.db, id).await?;
        // Bounded: only ids that exist are kept, misses are not cached.
        if row.is_some() {
            self.cache.insert(id, (now, row.clone()));
        }
        Ok(row)
    }

    pub fn forget(&self, id: i64) {
        self.cache.remove(&id);
    }

    /// The shared `Product` the pages and the API show.
    pub fn view(&self, row: &ProductRow, stock_left: i64, now: i64) -> Product {
        Product {
            id: row.id,
            name: row.name.clone(),
            price_cents: row.price_cents,
            price: format_cents(row.price_cents),
            image: row.image.clone(),
            stock: row.stock,
            stock_left,
            sale_start: row.sale_start,
            sale_end: row.sale_end,
            on_sale: phase_at(row.sale_start, row.sale_end, now) == SalePhase::OnSale,
            page_opens: row.sale_start - self.preview_ms,
            server_time: now,
        }
    }
}

/// Whether a purchase of this product is allowed at `now`.
pub fn is_open(row: &ProductRow, now: i64) -> bool {
    phase_at(row.sale_start, row.sale_end, now) == SalePhase::OnSale
}
