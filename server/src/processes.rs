//! The processes of a scaled-out sale besides the validation nodes (`startup`): a `stock` owner
//! serving quantity control over HTTP, and a `consumer` writing RabbitMQ's orders to the
//! database. Each runs until SIGINT/SIGTERM and then stops cleanly.

use crate::config::Config;
use crate::controllers::internal;
use crate::repositories::Db;
use crate::services::queue::rabbit::{self, Topology};
use crate::services::stock::{tenure_name, Owner, Source, Stock};
use axum::routing::get;
use secrecy::ExposeSecret;
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;

/// A call's body: a batch of registrations is ~100 bytes each (see `internal.rs`).
const REGISTRATIONS_BODY: usize = 128 * 1024;

/// A bound `stock` owner, ready to run.
pub struct StockOwner {
    listener: TcpListener,
    router: axum::Router,
    stock: Stock,
}

impl StockOwner {
    pub async fn build(cfg: &Config) -> anyhow::Result<Self> {
        let secret = cfg.cluster.internal_secret.as_ref().ok_or_else(|| {
            anyhow::anyhow!("FLASH_INTERNAL_SECRET must be set: nodes authenticate with it")
        })?;
        let db = Db::connect(cfg.database_url()).await?;
        let listener = crate::serve::listen(cfg.bind)?;
        let name = tenure_name("stock", listener.local_addr()?);
        let stock = Stock::start(db.clone(), cfg.stock_block, name, Source::Database).await?;
        let owner = Owner::new(stock.clone(), db.clone());
        crate::services::reservations::follow_ended(db.clone(), owner.forgetting());
        let router = internal::stock_router(owner, secret.expose_secret())
            .route("/healthz", get(|| async { "ok" }))
            .layer(tower_http::limit::RequestBodyLimitLayer::new(
                REGISTRATIONS_BODY,
            ));
        Ok(StockOwner {
            listener,
            router,
            stock,
        })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until `shutdown`, then hands its unsold leased units back to the database.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        crate::serve::serve(self.listener, self.router, shutdown).await;
        self.stock.release_all().await?;
        tracing::info!("stock owner stopped; unsold leases returned");
        Ok(())
    }
}

/// RabbitMQ → database until `shutdown`; several may run side by side.
pub async fn run_consumer(
    cfg: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let topology = Topology::from_config(cfg)
        .ok_or_else(|| anyhow::anyhow!("AMQP_URL must be set for a consumer"))?;
    let db = Db::connect(cfg.database_url()).await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let metrics = crate::metrics::Metrics::new()?;
    // Reservations expire where orders are written.
    let sweep = crate::services::reservations::sweep_expired(
        db.clone(),
        cfg.payments.sweep,
        metrics.clone(),
        stopped.clone(),
    );
    let sweep = tokio::spawn(sweep);
    let task = tokio::spawn(rabbit::consume(
        db,
        topology,
        cfg.prefetch,
        metrics,
        stopped,
    ));
    println!("consumer running on queue {}", cfg.queue_name);
    shutdown.await;
    let _ = stop.send(true);
    task.await?;
    sweep.await?;
    tracing::info!("consumer stopped");
    Ok(())
}
