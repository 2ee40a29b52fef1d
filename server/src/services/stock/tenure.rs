//! This process's tenure as an owner of leased stock (see `repositories::leases`): registered
//! under a fresh id at start, renewed every second, and fenced — it sells nothing from memory
//! once it could not renew for a while, as it may be taken for dead and its leases taken back.
//! Told it is dead already, it forgets its units and starts a new tenure.

use crate::repositories::{leases, Db};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

pub struct Tenure {
    id: AtomicI64,
    name: String,
    renewed_at: AtomicI64,
}

impl Tenure {
    /// Registers `name` ("serve@host:port", "stock@host:port": its earlier runs are dead now).
    pub async fn begin(db: &Db, name: String, now: i64) -> Result<Arc<Self>, sqlx::Error> {
        let id = fresh_id();
        leases::register(db, id, &name, now).await?;
        Ok(Arc::new(Tenure {
            id: AtomicI64::new(id),
            name,
            renewed_at: AtomicI64::new(now),
        }))
    }

    pub fn id(&self) -> i64 {
        self.id.load(Ordering::Acquire)
    }

    /// Whether units may still be sold from memory (and leased) at `now`.
    pub fn may_sell(&self, now: i64) -> bool {
        now - self.renewed_at.load(Ordering::Acquire) <= leases::SELL_WITHIN_MS
    }

    /// Renews every `RENEW_MS` while the tenure lives; `forget` drops the units in memory when
    /// the tenure turns out to be dead (they are no longer this process's to sell).
    pub fn keep_renewing(self: &Arc<Self>, db: Db, forget: impl Fn() + Send + Sync + 'static) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak: Weak<Self> = Arc::downgrade(self);
        rt.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(leases::RENEW_MS as u64));
            loop {
                tick.tick().await;
                let Some(tenure) = weak.upgrade() else { return };
                tenure.renew(&db, &forget).await;
            }
        });
    }

    async fn renew(&self, db: &Db, forget: &impl Fn()) {
        let now = crate::now_ms();
        match leases::renew(db, self.id(), now).await {
            Ok(true) => self.renewed_at.store(now, Ordering::Release),
            Ok(false) => {
                tracing::error!(
                    owner = self.id(),
                    "stock tenure lost (silent too long or replaced): its units are forgotten"
                );
                // Nothing is sold from here on until the new tenure is registered.
                self.renewed_at.store(i64::MIN / 2, Ordering::Release);
                forget();
                let id = fresh_id();
                match leases::register(db, id, &self.name, now).await {
                    Ok(()) => {
                        self.id.store(id, Ordering::Release);
                        self.renewed_at.store(now, Ordering::Release);
                    }
                    Err(e) => tracing::error!(error = %e, "stock tenure not registered again"),
                }
            }
            Err(e) => tracing::warn!(error = %e, "stock tenure not renewed"),
        }
    }

    /// A clean stop, after the units went back.
    pub async fn end(&self, db: &Db) -> Result<(), sqlx::Error> {
        leases::retire(db, self.id()).await
    }
}

/// Random and positive (0 marks orders from before owners were recorded).
fn fresh_id() -> i64 {
    (rand::random::<u64>() >> 2) as i64 + 1
}

/// This machine and address, as a tenure's name.
pub fn name(role: &str, bind: std::net::SocketAddr) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into());
    format!("{role}@{host}:{}", bind.port())
}
