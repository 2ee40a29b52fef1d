//! The catalog: the products as the pages and the API show them, and the sale window (each
//! product sells only between its start and end). Product rows are cached for a second so the
//! purchase path does not query for them.

use crate::error::{AppError, AppResult};
use crate::ids::{Millis, ProductId};
use crate::repositories::db::in_time;
use crate::repositories::products::{self as repo, ProductRow};
use crate::repositories::Db;
use app::model::{format_cents, phase_at, ApiError, LiveStock, Product, SalePhase};
use dashmap::DashMap;
use std::sync::Arc;

const CACHE_MS: i64 = 1_000;

#[derive(Clone)]
pub struct Catalog {
    db: Db,
    cache: Arc<DashMap<ProductId, (i64, Option<ProductRow>)>>,
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

    /// Every product: what can be bought now first, then what comes next, then what is over.
    pub async fn products(&self) -> AppResult<Vec<Product>> {
        let now = Millis::now();
        let rows = repo::list(&self.db).await?;
        let mut list: Vec<Product> = rows.iter().map(|r| self.view(r, now)).collect();
        list.sort_by_key(|p| match p.phase() {
            SalePhase::OnSale => 0,
            SalePhase::Upcoming => 1,
            SalePhase::Ended => 2,
        });
        Ok(list)
    }

    /// Whether a product page is open or about to be: from its preview until its sale ends.
    pub async fn sale_near(&self, now: Millis) -> bool {
        match repo::list(&self.db).await {
            Ok(rows) => rows
                .iter()
                .any(|r| page_opens(r, self.preview_ms) <= now.0 && now.0 < r.sale_end),
            Err(e) => {
                tracing::warn!(error = %e, "products not read");
                false
            }
        }
    }

    /// One product, as its page shows it.
    pub async fn product(&self, id: ProductId) -> AppResult<Product> {
        // A crowd opening the page reads the cached row: at most a second old, and the page's
        // live stream tells what changed since.
        let now = Millis::now();
        Ok(self.view(&self.row(id, now).await?, now))
    }

    /// What a polling stock meter is told: from the cached row.
    pub async fn stock_info(&self, id: ProductId) -> AppResult<LiveStock> {
        let now = Millis::now();
        Ok(live_stock(&self.row(id, now).await?, now))
    }

    /// What the live streams are told: read fresh, once per tick for all of a product's pages.
    pub async fn live_stock(&self, id: ProductId) -> AppResult<LiveStock> {
        let row = repo::get(&self.db, id.0).await?.ok_or_else(not_found)?;
        Ok(live_stock(&row, Millis::now()))
    }

    /// The product (at most a second old), or 404.
    pub async fn row(&self, id: ProductId, now: Millis) -> AppResult<ProductRow> {
        if let Some(hit) = self.cache.get(&id) {
            if now.0 - hit.0 < CACHE_MS {
                return hit.1.clone().ok_or_else(not_found);
            }
        }
        let row = in_time(repo::get(&self.db, id.0)).await?;
        // Bounded: only ids that exist are kept, misses are not cached.
        if row.is_some() {
            self.cache.insert(id, (now.0, row.clone()));
        }
        row.ok_or_else(not_found)
    }

    pub fn forget(&self, id: ProductId) {
        self.cache.remove(&id);
    }

    fn view(&self, row: &ProductRow, now: Millis) -> Product {
        Product {
            id: row.id,
            name: row.name.clone(),
            price_cents: row.price_cents,
            price: format_cents(row.price_cents),
            image: row.image.clone(),
            stock: row.stock,
            stock_left: row.stock - row.sold,
            sale_start: row.sale_start,
            sale_end: row.sale_end,
            on_sale: phase_at(row.sale_start, row.sale_end, now.0) == SalePhase::OnSale,
            page_opens: page_opens(row, self.preview_ms),
            pay_within_ms: row.pay_within_ms,
            server_time: now.0,
        }
    }
}

/// When the product's page opens: its preview before the sale, saturating for a start near the
/// bottom of the range (rows are not only written through the form).
fn page_opens(row: &ProductRow, preview_ms: i64) -> i64 {
    row.sale_start.saturating_sub(preview_ms)
}

fn live_stock(row: &ProductRow, now: Millis) -> LiveStock {
    LiveStock {
        product_id: row.id,
        stock: row.stock,
        stock_left: row.stock - row.sold,
        phase: phase_at(row.sale_start, row.sale_end, now.0),
        sale_start: row.sale_start,
        sale_end: row.sale_end,
        server_time: now.0,
    }
}

fn not_found() -> AppError {
    AppError::Api(ApiError::not_found("product"))
}

/// Whether a purchase of this product is allowed at `now`.
pub fn is_open(row: &ProductRow, now: Millis) -> bool {
    phase_at(row.sale_start, row.sale_end, now.0) == SalePhase::OnSale
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repositories::fixture;
    use crate::repositories::products::NewProduct;

    #[tokio::test]
    async fn rows_at_the_ends_of_the_time_range_do_not_overflow() {
        let (db, _, _) = fixture::sale(&[]).await;
        for (sale_start, sale_end) in [(i64::MIN, i64::MIN + 1), (i64::MAX - 1, i64::MAX)] {
            let p = NewProduct {
                name: "Edge",
                price_cents: 1,
                image: "",
                stock: 1,
                sale_start,
                sale_end,
                pay_within_ms: 900_000,
            };
            repo::insert(&db, &p, 0).await.unwrap();
        }
        let catalog = Catalog::new(db, 60_000);
        let opens: Vec<i64> = catalog
            .products()
            .await
            .unwrap()
            .iter()
            .map(|p| p.page_opens)
            .collect();
        assert!(opens.contains(&i64::MIN), "{opens:?}");
        assert!(opens.contains(&(i64::MAX - 60_001)), "{opens:?}");
        // The fixture's own product is on sale.
        assert!(catalog.sale_near(Millis::now()).await);
    }
}
