//! Blacklisted users, refused with 403 `blacklisted`. The database holds the list; every node
//! keeps a copy in memory (the hot path never queries) and refreshes it every second, so a
//! change made anywhere holds everywhere within a second — at once on the node that made it. The
//! list refreshes itself until its last handle is dropped.

use crate::repositories::{blacklist as repo, Db};
use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

#[derive(Clone)]
pub struct Blacklist {
    db: Db,
    ids: Arc<RwLock<HashSet<i64>>>,
}

impl Blacklist {
    pub async fn load(db: Db) -> Result<Self, sqlx::Error> {
        let list = Blacklist {
            db,
            ids: Arc::default(),
        };
        list.refresh().await?;
        let (db, ids) = (list.db.clone(), Arc::downgrade(&list.ids));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(ids) = ids.upgrade() else { return };
                let again = Blacklist {
                    db: db.clone(),
                    ids,
                };
                if let Err(e) = again.refresh().await {
                    tracing::warn!(error = %e, "blacklist refresh failed");
                }
            }
        });
        Ok(list)
    }

    pub fn contains(&self, user_id: i64) -> bool {
        self.ids
            .read()
            .map(|s| s.contains(&user_id))
            .unwrap_or(false)
    }

    pub async fn refresh(&self) -> Result<(), sqlx::Error> {
        let fresh: HashSet<i64> = repo::ids(&self.db).await?.into_iter().collect();
        if let Ok(mut ids) = self.ids.write() {
            *ids = fresh;
        }
        Ok(())
    }

    pub async fn add(&self, user_id: i64, reason: &str) -> Result<bool, sqlx::Error> {
        let added = repo::add(&self.db, user_id, reason, crate::now_ms()).await?;
        self.refresh().await?;
        Ok(added)
    }

    pub async fn remove(&self, user_id: i64) -> Result<bool, sqlx::Error> {
        let removed = repo::remove(&self.db, user_id).await?;
        self.refresh().await?;
        Ok(removed)
    }
}
