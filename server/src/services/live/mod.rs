//! Live updates for open pages (`GET /api/v1/products/{id}/live`, Server-Sent Events): the
//! product's stock left and sale phase, and the shopper's own order once it is stored. One ticker
//! reads each watched product once per tick and, only when something changed (or a heartbeat is
//! due), frames the news once: every page's stream sends those same bytes. A change of the count
//! alone is spaced out by the number of open pages (`count_spacing_ms`). A page that cannot
//! hold a stream polls instead (`get_stock`).

mod stream;

pub use stream::LiveStream;

use crate::config::LiveConfig;
use crate::error::{AppError, AppResult};
use crate::ids::{Millis, ProductId, UserId};
use crate::repositories::{orders, Db};
use crate::services::catalog::Catalog;
use crate::services::clients::Client;
use app::model::{ApiError, ErrorCode, LiveOrder, LiveStock, OrderStatus};
use axum::body::Bytes;
use dashmap::DashMap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use tokio::sync::watch;

/// A queued order is looked for in the database this long, then forgotten (the page polls).
const WAIT_MS: i64 = 10 * 60_000;
/// Waiting shoppers looked up per product and tick, in one query each `LOOKUP_CHUNK`.
const LOOKUPS_PER_TICK: usize = 5_000;
const LOOKUP_CHUNK: usize = 500;

/// The streams of this process; cloning shares them.
#[derive(Clone)]
pub struct Live(Arc<Inner>);

struct Inner {
    catalog: Catalog,
    db: Db,
    cfg: LiveConfig,
    products: DashMap<ProductId, Channel>,
    /// Per shopper with a page open: their order, once stored.
    shoppers: DashMap<(ProductId, UserId), watch::Sender<Option<Bytes>>>,
    /// Orders queued here for shoppers with a page open, not yet seen stored.
    waiting: DashMap<ProductId, Vec<Waiting>>,
    clients: DashMap<Client, usize>,
    open: AtomicUsize,
    closed: AtomicBool,
}

/// A watched product: its latest framed news, what it said, and when it was sent.
struct Channel {
    news: watch::Sender<Bytes>,
    last: LiveStock,
    sent_at: i64,
}

struct Waiting {
    user: UserId,
    since: i64,
}

impl Live {
    /// Starts the ticker; it ends with the last handle.
    pub fn new(catalog: Catalog, db: Db, cfg: LiveConfig) -> Self {
        let tick = cfg.tick;
        let live = Live(Arc::new(Inner {
            catalog,
            db,
            cfg,
            products: DashMap::new(),
            shoppers: DashMap::new(),
            waiting: DashMap::new(),
            clients: DashMap::new(),
            open: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        }));
        tokio::spawn(ticker(Arc::downgrade(&live.0), tick));
        live
    }

    /// A stream of the product's news (and the shopper's order), starting with the news now;
    /// 404 for an unknown product, 429 over the client's bound, 503 over the process's.
    pub async fn open(
        &self,
        product: ProductId,
        user: Option<UserId>,
        client: Client,
    ) -> AppResult<LiveStream> {
        if self.0.closed.load(Ordering::Acquire) {
            return Err(AppError::code(
                ErrorCode::Unavailable,
                "the server is stopping",
            ));
        }
        // The news the product's other pages last heard (its count spaced out as theirs is),
        // told at this moment; the first page of a product reads it. Not the cached row: it may
        // be older than the news the ticker has sent, and the ticker sends only changes.
        let latest = self.0.products.get(&product).map(|c| c.last);
        let now = match latest {
            Some(news) => LiveStock {
                server_time: Millis::now().0,
                ..news
            },
            None => self.0.catalog.live_stock(product).await?,
        };
        let slot = stream::Slot::take(&self.0, client, product, user)?;
        let framed = frame("stock", &now);
        let news = self
            .0
            .products
            .entry(product)
            .or_insert_with(|| Channel {
                news: watch::channel(framed.clone()).0,
                last: now,
                sent_at: now.server_time,
            })
            .news
            .subscribe();
        let order = user.map(|u| {
            self.0
                .shoppers
                .entry((product, u))
                .or_insert_with(|| watch::channel(None).0)
                .subscribe()
        });
        let first = [b"retry: 2000\n".as_slice(), &framed[..]].concat();
        Ok(LiveStream::new(Bytes::from(first), news, order, slot))
    }

    /// An order was queued for the shopper: tell their open page once the database has it.
    pub fn queued(&self, product: ProductId, user: UserId) {
        if self.0.shoppers.contains_key(&(product, user)) {
            self.0.waiting.entry(product).or_default().push(Waiting {
                user,
                since: Millis::now().0,
            });
        }
    }

    /// Ends every stream (graceful shutdown: the server waits for open connections) and
    /// refuses new ones.
    pub fn close(&self) {
        self.0.closed.store(true, Ordering::Release);
        self.0.products.clear();
        self.0.shoppers.clear();
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.0.open.load(Ordering::Acquire)
    }
}

impl Inner {
    /// One tick: each watched product read once, its news sent if it changed or a heartbeat is
    /// due; products nobody watches dropped; stored orders told.
    async fn refresh(&self) {
        let ids: Vec<ProductId> = self.products.iter().map(|e| *e.key()).collect();
        for id in ids {
            let unwatched = self
                .products
                .remove_if(&id, |_, c| c.news.receiver_count() == 0)
                .is_some();
            if unwatched {
                continue;
            }
            match self.catalog.live_stock(id).await {
                Ok(news) => self.send(id, news),
                // Deleted: its streams end, and the pages find out when they reconnect.
                Err(AppError::Api(e)) if e.error == ErrorCode::NotFound => {
                    self.products.remove(&id);
                }
                Err(e) => tracing::warn!(error = %e, product = %id, "live stock not read"),
            }
        }
        self.tell_stored_orders().await;
    }

    fn send(&self, id: ProductId, news: LiveStock) {
        let Some(mut c) = self.products.get_mut(&id) else {
            return;
        };
        let since = news.server_time - c.sent_at;
        let told = if c.last.same_as(&news) {
            since >= self.cfg.heartbeat.as_millis() as i64
        } else {
            !only_the_count(&c.last, &news) || since >= self.count_spacing_ms()
        };
        if !told {
            return;
        }
        c.news.send_replace(frame("stock", &news));
        c.last = news;
        c.sent_at = news.server_time;
    }

    /// How long a mere change of the count waits after the last news: each news is a write per
    /// open page, and four a second to 18,000 pages were 72,000 writes a second in the middle
    /// of the clicks, the CPU the captchas waited for. So the count costs at most
    /// `writes_per_sec` writes a second, is told no more often than each tick, and never
    /// waits longer than a heartbeat.
    fn count_spacing_ms(&self) -> i64 {
        spacing_ms(self.open.load(Ordering::Acquire), &self.cfg)
    }

    async fn tell_stored_orders(&self) {
        let products: Vec<ProductId> = self
            .waiting
            .iter()
            .filter(|e| !e.value().is_empty())
            .map(|e| *e.key())
            .collect();
        for product in products {
            let users: Vec<i64> = match self.waiting.get(&product) {
                Some(w) => w.iter().take(LOOKUPS_PER_TICK).map(|w| w.user.0).collect(),
                None => continue,
            };
            let mut stored = HashMap::new();
            for chunk in users.chunks(LOOKUP_CHUNK) {
                match orders::stored_among(&self.db, product.0, chunk).await {
                    Ok(found) => stored.extend(found),
                    Err(e) => {
                        tracing::warn!(error = %e, %product, "stored orders not read");
                        return;
                    }
                }
            }
            let now = Millis::now().0;
            let Some(mut waiting) = self.waiting.get_mut(&product) else {
                continue;
            };
            waiting.retain(|w| {
                let Some(order_id) = stored.get(&w.user.0) else {
                    return now - w.since < WAIT_MS;
                };
                if let Some(page) = self.shoppers.get(&(product, w.user)) {
                    let order = LiveOrder {
                        order_id: order_id.clone(),
                        product_id: product.0,
                        status: OrderStatus::Reserved,
                    };
                    page.send_replace(Some(frame("order", &order)));
                }
                false
            });
        }
    }
}

async fn ticker(live: Weak<Inner>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let Some(live) = live.upgrade() else { return };
        if live.closed.load(Ordering::Acquire) {
            return;
        }
        live.refresh().await;
    }
}

/// `count_spacing_ms` for this many open streams.
fn spacing_ms(streams: usize, cfg: &LiveConfig) -> i64 {
    let spread = (streams as u64 * 1000 / cfg.writes_per_sec.max(1)) as i64;
    let (tick, heartbeat) = (cfg.tick.as_millis(), cfg.heartbeat.as_millis());
    spread.min(heartbeat as i64).max(tick as i64)
}

/// Whether only the units left changed, neither running out nor coming back: the news that can
/// wait a little (the phase, "sold out" and a new stock are told at the next tick).
fn only_the_count(last: &LiveStock, news: &LiveStock) -> bool {
    let bare = |n: &LiveStock| LiveStock {
        stock_left: 0,
        server_time: 0,
        ..*n
    };
    bare(last) == bare(news) && (last.stock_left > 0) == (news.stock_left > 0)
}

/// One Server-Sent Event.
fn frame(event: &str, data: &impl serde::Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "null".into());
    Bytes::from(format!("event: {event}\ndata: {json}\n\n"))
}

fn too_many(why: &str) -> AppError {
    AppError::RateLimited(ApiError::new(ErrorCode::RateLimited, why), 5)
}

#[cfg(test)]
mod tests {
    use super::{only_the_count, spacing_ms};
    use crate::config::LiveConfig;
    use app::model::{LiveStock, SalePhase};
    use std::time::Duration;

    #[test]
    fn the_count_costs_at_most_its_writes_a_second_within_a_tick_and_a_heartbeat() {
        let cfg = LiveConfig {
            tick: Duration::from_millis(250),
            heartbeat: Duration::from_secs(30),
            writes_per_sec: 10_000,
            max_streams: 19_000,
            per_user: 8,
            per_address: 64,
        };
        assert_eq!(spacing_ms(10, &cfg), 250, "a few pages: every tick");
        assert_eq!(spacing_ms(18_000, &cfg), 1_800);
        assert_eq!(
            spacing_ms(1_000_000, &cfg),
            30_000,
            "never past a heartbeat"
        );
    }

    fn news(stock_left: i64, phase: SalePhase) -> LiveStock {
        LiveStock {
            product_id: 1,
            stock: 10,
            stock_left,
            phase,
            sale_start: 0,
            sale_end: 1,
            server_time: stock_left,
        }
    }

    #[test]
    fn sold_out_a_new_phase_or_units_back_are_not_a_mere_count() {
        let on = SalePhase::OnSale;
        assert!(only_the_count(&news(9, on), &news(4, on)));
        assert!(!only_the_count(&news(4, on), &news(0, on)), "sold out");
        assert!(
            !only_the_count(&news(0, on), &news(1, on)),
            "a unit came back"
        );
        assert!(!only_the_count(&news(4, SalePhase::Upcoming), &news(4, on)));
        let restocked = LiveStock {
            stock: 20,
            ..news(4, on)
        };
        assert!(!only_the_count(&news(4, on), &restocked));
    }
}
