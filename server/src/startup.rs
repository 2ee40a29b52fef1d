//! Builds the whole server from `Config`: storage, the services, the routes; runs it until a
//! shutdown signal, then drains the queue and hands unsold leased stock back.

use crate::config::{Bucket, Config};
use crate::controllers::{self, AppState, Shared};
use crate::now_ms;
use crate::repositories::{demo, leases, orders, Db};
use crate::services::accounts::{hash_password, Accounts};
use crate::services::assets::Assets;
use crate::services::auth::Authenticator;
use crate::services::blacklist::Blacklist;
use crate::services::buyers::Buyers;
use crate::services::captcha::{Captchas, Pool};
use crate::services::catalog::Catalog;
use crate::services::cookie::CookieCodec;
use crate::services::cooldown::Cooldown;
use crate::services::forward::Forwarder;
use crate::services::limiter::Limiters;
use crate::services::live::Live;
use crate::services::monitor::{Monitor, Watched};
use crate::services::operations::{Operations, Reaches};
use crate::services::peers::Peers;
use crate::services::queue::rabbit::{self, dead::DeadLetters, RabbitQueue, Topology};
use crate::services::queue::{EmbeddedQueue, OrderQueue};
use crate::services::reservations::{self, Reservations};
use crate::services::revocations::Revocations;
use crate::services::sale::{LocalSale, Sale, SaleStages};
use crate::services::stock::{tenure_name, Owners, Source, Stock, StockControl};
use axum::Router;
use leptos::prelude::LeptosOptions;
use secrecy::ExposeSecret;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub struct Application {
    listener: TcpListener,
    router: Router,
    stock: StockControl,
    live: Live,
    queue_task: JoinHandle<()>,
    consumer: Option<(tokio::sync::watch::Sender<bool>, JoinHandle<()>)>,
    /// The expiry sweep stops when this is dropped.
    expiry: tokio::sync::watch::Sender<bool>,
}

/// Leptos options for running without cargo-leptos (tests, the bare binary).
pub fn leptos_options(cfg: &Config) -> LeptosOptions {
    match leptos::config::get_configuration(None) {
        Ok(conf) => {
            let mut options = conf.leptos_options;
            options.site_addr = cfg.bind;
            options
        }
        Err(_) => LeptosOptions::builder()
            .output_name("flash-sale")
            .site_root("target/site")
            .site_addr(cfg.bind)
            .build(),
    }
}

impl Application {
    pub async fn build(cfg: Config, leptos: LeptosOptions) -> anyhow::Result<Self> {
        announce(&cfg);
        let db = Db::connect(cfg.database_url()).await?;
        if cfg.demo_data && demo::seed(&db, now_ms(), hash_password).await? {
            tracing::info!("seeded demo data: shopper alice / admin admin (see README)");
        }
        let previous: Vec<String> = cfg
            .previous_secrets
            .iter()
            .map(|s| s.expose_secret().to_string())
            .collect();
        let cookies = CookieCodec::new(
            cfg.secret.expose_secret(),
            &previous,
            cfg.session_ttl,
            cfg.secure_cookies,
        );
        let limiters = Limiters::new(&cfg.rate_limits);
        let revocations = Revocations::load(db.clone(), cfg.session_ttl).await?;
        let metrics = crate::metrics::Metrics::new()?;
        let (queue, queue_task, consumer) = start_queue(&cfg, &db, &metrics).await?;
        let catalog = Catalog::new(db.clone(), cfg.preview.as_millis() as i64);
        let blacklist = Blacklist::load(db.clone()).await?;
        let listener = crate::serve::listen(cfg.bind)?;
        let stock = stock_control(&cfg, &db, listener.local_addr()?).await?;
        if cfg.amqp_url.is_none() {
            // No queue can hold orders of earlier runs: what dead tenures held and did not sell
            // (this process's last run, after a crash) goes back to stock.
            let n = leases::reconcile(&db, now_ms()).await?;
            if n > 0 {
                tracing::info!(
                    products = n,
                    "returned leased but unsold stock of dead owners"
                );
            }
        }
        let live = Live::new(catalog.clone(), db.clone(), cfg.live.clone());
        let cooldown = Cooldown::new(cfg.user_interval);
        let since = now_ms() - cfg.user_interval.as_millis() as i64;
        cooldown.seed(orders::buyers_since(&db, since).await?);
        let buyers = Buyers::new(db.clone());
        reservations::follow_ended(db.clone(), buyers.forgetting());
        // Reservations expire where orders are written.
        let (expiry, expiring) = tokio::sync::watch::channel(false);
        if cfg.amqp_url.is_none() || cfg.run_consumer {
            let sweep = cfg.payments.sweep;
            tokio::spawn(reservations::sweep_expired(
                db.clone(),
                sweep,
                metrics.clone(),
                expiring,
            ));
        }
        let local = LocalSale::new(SaleStages {
            db: db.clone(),
            buyers,
            catalog: catalog.clone(),
            blacklist: blacklist.clone(),
            cooldown,
            captchas: Captchas::new(
                cfg.secret.expose_secret(),
                cfg.captcha_ttl.as_millis() as i64,
                cfg.pass_ttl.as_millis() as i64,
                cfg.captcha_test_answer.clone(),
            )
            .with_pool(
                Pool::new(cfg.captcha_pool, cfg.captcha_drawers),
                cfg.captcha_real_drawings,
            )
            .remembering_since(now_ms())
            .limited(cfg.rate_limits.enabled.then_some(Bucket {
                period: cfg.door.captcha_period,
                burst: cfg.door.captcha_burst,
            })),
            stock: stock.clone(),
            queue,
            live: live.clone(),
            metrics: metrics.clone(),
        });
        let reservations = Reservations::new(db.clone(), &cfg, metrics.clone());
        let ring = Forwarder::new(&cfg.cluster)?;
        let accounts = Accounts::new(db.clone(), cookies.clone())?.routing(ring.clone());
        let state = AppState(Arc::new(Shared {
            auth: Authenticator::new(cookies.clone(), revocations.clone()),
            accounts: accounts.clone(),
            operations: Operations::new(
                db.clone(),
                Reaches {
                    catalog: catalog.clone(),
                    sale: local.clone(),
                    blacklist,
                    revocations,
                    metrics: metrics.clone(),
                    dead_letters: DeadLetters::new(Topology::from_config(&cfg)),
                },
            ),
            monitor: Monitor::new(
                db,
                Watched {
                    sale: local.clone(),
                    live: live.clone(),
                    limiters: limiters.clone(),
                    accounts,
                },
                metrics.clone(),
                cfg.door.metrics_token.clone(),
            ),
            sale: Sale::new(local, ring, metrics.clone()),
            reservations,
            catalog,
            live: live.clone(),
            assets: Assets::new(
                std::path::Path::new(&*leptos.site_root).join(&*leptos.site_pkg_dir),
                // `cargo leptos watch` rebuilds the files under the running server.
                std::env::var_os("LEPTOS_WATCH").is_some(),
            ),
            limiters,
            proxies: cfg.door.trusted_proxies.clone(),
            metrics,
            leptos,
            max_body: cfg.max_body_bytes,
            internal_secret: cfg
                .cluster
                .internal_secret
                .clone()
                .filter(|_| cfg.cluster.nodes.len() > 1),
        }));
        Ok(Application {
            listener,
            router: controllers::router(state),
            stock,
            live,
            queue_task,
            consumer,
            expiry,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Application {
            listener,
            router,
            stock,
            live,
            queue_task,
            consumer,
            expiry,
        } = self;
        // The last queue handle goes with the router's services: then the batcher writes what it
        // holds and ends.
        // Open pages' streams never end by themselves: the server would wait for them.
        let shutdown = async move {
            shutdown.await;
            live.close();
        };
        crate::serve::serve(listener, router, shutdown).await;
        let _ = expiry.send(true);
        if tokio::time::timeout(Duration::from_secs(30), queue_task)
            .await
            .is_err()
        {
            tracing::error!(
                "order queue did not drain within 30 s: pending orders may be unconfirmed"
            );
        }
        if let Some((stop, task)) = consumer {
            let _ = stop.send(true);
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        stock.release_all().await?;
        tracing::info!("stopped cleanly");
        Ok(())
    }
}

/// Its own leases (a tenure named after the address it serves), or the `stock` processes of
/// `FLASH_STOCK_NODES`.
async fn stock_control(cfg: &Config, db: &Db, at: SocketAddr) -> anyhow::Result<StockControl> {
    let owners = cfg.cluster.stock_nodes.clone();
    match cfg.cluster.internal_secret.as_ref() {
        Some(secret) if !owners.is_empty() => {
            let peers = Peers::new(owners, secret.expose_secret(), cfg.cluster.peer_timeout)?;
            let owners = Owners::new(peers);
            let name = tenure_name("node", at);
            let source = Source::Owners(owners.clone());
            let stock = Stock::start(db.clone(), cfg.stock_block, name, source).await?;
            Ok(StockControl::new(stock, Some(owners)))
        }
        _ => {
            let name = tenure_name("serve", at);
            let stock = Stock::start(db.clone(), cfg.stock_block, name, Source::Database).await?;
            Ok(StockControl::new(stock, None))
        }
    }
}

type Consumer = Option<(tokio::sync::watch::Sender<bool>, JoinHandle<()>)>;

async fn consume_on_own_pool(
    url: String,
    topology: Topology,
    prefetch: u16,
    metrics: crate::metrics::Metrics,
    stopped: tokio::sync::watch::Receiver<bool>,
) {
    let db = loop {
        match Db::open(&url).await {
            Ok(db) => break db,
            Err(e) if !*stopped.borrow() && stopped.has_changed().is_ok() => {
                tracing::warn!(error = %format!("{e:#}"), "order consumer cannot reach the database, retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(_) => return,
        }
    };
    rabbit::consume(db, topology, prefetch, metrics, stopped).await;
}

/// The embedded group-commit queue, or RabbitMQ (plus its consumer) when `AMQP_URL` is set.
async fn start_queue(
    cfg: &Config,
    db: &Db,
    metrics: &crate::metrics::Metrics,
) -> anyhow::Result<(Arc<dyn OrderQueue>, JoinHandle<()>, Consumer)> {
    let Some(topology) = Topology::from_config(cfg) else {
        let (queue, task) =
            EmbeddedQueue::start(db.clone(), cfg.batch_max, cfg.batch_linger, metrics.clone());
        return Ok((Arc::new(queue), task, None));
    };
    let (queue, task) =
        RabbitQueue::start(topology.clone(), cfg.batch_max, cfg.batch_linger).await?;
    let consumer = cfg.run_consumer.then(|| {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (url, prefetch, metrics) = (
            cfg.database_url().to_string(),
            cfg.prefetch,
            metrics.clone(),
        );
        // Its own thread, runtime and pool: as one task among thousands of connections' it
        // waited behind all of them at each of its database round trips, and fell seconds
        // behind a sale. A thread of its own gets its share of the CPU from the kernel.
        let task = tokio::task::spawn_blocking(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(rt) => rt.block_on(consume_on_own_pool(
                    url, topology, prefetch, metrics, stopped,
                )),
                Err(e) => tracing::error!(error = %e, "order consumer could not start its runtime"),
            }
        });
        (stop, task)
    });
    Ok((Arc::new(queue), task, consumer))
}

fn announce(cfg: &Config) {
    let redact = crate::config::redact_url;
    tracing::info!(
        database = %redact(cfg.database_url()),
        amqp = ?cfg.amqp_url().map(redact),
        config = ?cfg,
        "starting"
    );
    if cfg.using_dev_secret {
        tracing::warn!(
            "FLASH_SECRET is not set: using the development secret. Never do this in production."
        );
    }
    if cfg.test_mode {
        tracing::warn!(
            "!!! FLASH_TEST_MODE is on: captchas may have a fixed answer. Never in production. !!!"
        );
    }
    if !cfg.rate_limits.enabled {
        tracing::warn!("FLASH_RATE_LIMITS=off: token buckets are disabled (benchmark mode)");
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received");
}
