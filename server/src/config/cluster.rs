//! Scale-out settings: the ring of validation nodes, the stock owners, and the secret that
//! authenticates calls between them. Empty lists mean one all-in-one process.

use super::{millis, parse, ConfigError, Env};
use secrecy::SecretString;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    pub id: String,
    /// `http://host:port`, without a trailing slash.
    pub url: String,
}

#[derive(Clone, Debug, Default)]
pub struct Cluster {
    /// Every validation node on the ring, this one included.
    pub nodes: Vec<Peer>,
    pub node_id: String,
    pub vnodes: u32,
    /// Stock owners (`http://host:port`); empty → this process controls stock itself.
    pub stock_nodes: Vec<String>,
    pub internal_secret: Option<SecretString>,
    pub peer_timeout: Duration,
}

fn invalid(name: &'static str, value: &str, why: &str) -> ConfigError {
    ConfigError::Invalid {
        name,
        value: value.to_string(),
        why: why.to_string(),
    }
}

fn url(name: &'static str, raw: &str) -> Result<String, ConfigError> {
    let u = raw.trim().trim_end_matches('/');
    if !u.starts_with("http://") && !u.starts_with("https://") {
        return Err(invalid(
            name,
            raw,
            "each address must start with http:// or https://",
        ));
    }
    Ok(u.to_string())
}

impl Cluster {
    pub fn from_lookup(env: Env) -> Result<Self, ConfigError> {
        let list = |name| {
            env(name)
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        };
        let mut nodes = Vec::new();
        for item in list("FLASH_NODES") {
            let (id, u) = item
                .split_once('=')
                .ok_or_else(|| invalid("FLASH_NODES", &item, "expected id=http://host:port"))?;
            if id.is_empty() || nodes.iter().any(|p: &Peer| p.id == id) {
                return Err(invalid("FLASH_NODES", &item, "node ids must be unique"));
            }
            nodes.push(Peer {
                id: id.to_string(),
                url: url("FLASH_NODES", u)?,
            });
        }
        let stock_nodes = list("FLASH_STOCK_NODES")
            .iter()
            .map(|u| url("FLASH_STOCK_NODES", u))
            .collect::<Result<Vec<_>, _>>()?;
        let node_id = env("FLASH_NODE_ID").unwrap_or_default();
        if !nodes.is_empty() && !nodes.iter().any(|p| p.id == node_id) {
            return Err(invalid(
                "FLASH_NODE_ID",
                &node_id,
                "must be one of the ids in FLASH_NODES",
            ));
        }
        let internal_secret = env("FLASH_INTERNAL_SECRET").filter(|s| !s.is_empty());
        if internal_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(invalid(
                "FLASH_INTERNAL_SECRET",
                "<hidden>",
                "use at least 32 characters",
            ));
        }
        let cluster = Cluster {
            nodes,
            node_id,
            vnodes: parse(env, "FLASH_VNODES", crate::services::ring::DEFAULT_VNODES)?.max(1),
            stock_nodes,
            internal_secret: internal_secret.map(SecretString::from),
            peer_timeout: millis(env, "FLASH_PEER_TIMEOUT_MS", 2_000)?,
        };
        if cluster.is_distributed() && cluster.internal_secret.is_none() {
            return Err(ConfigError::Missing(
                "FLASH_INTERNAL_SECRET",
                "nodes and stock owners authenticate each other with it (32+ characters)",
            ));
        }
        Ok(cluster)
    }

    /// Whether this process talks to other nodes or stock owners.
    pub fn is_distributed(&self) -> bool {
        self.nodes.len() > 1 || !self.stock_nodes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cluster(pairs: &[(&str, &str)]) -> Result<Cluster, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Cluster::from_lookup(&move |k| map.get(k).cloned())
    }

    const SECRET: &str = "internal-secret-internal-secret-internal";

    #[test]
    fn reads_the_ring_and_the_stock_owners() {
        let c = cluster(&[
            ("FLASH_NODES", "a=http://127.0.0.1:1/, b=http://127.0.0.1:2"),
            ("FLASH_NODE_ID", "b"),
            ("FLASH_STOCK_NODES", "http://127.0.0.1:3"),
            ("FLASH_INTERNAL_SECRET", SECRET),
        ])
        .unwrap();
        assert_eq!(c.nodes[0].url, "http://127.0.0.1:1");
        assert_eq!(c.stock_nodes, vec!["http://127.0.0.1:3".to_string()]);
        assert!(c.is_distributed());
        assert!(!format!("{c:?}").contains(SECRET));
        assert!(!cluster(&[]).unwrap().is_distributed());
    }

    #[test]
    fn refuses_what_cannot_work() {
        let nodes = ("FLASH_NODES", "a=http://h:1,b=http://h:2");
        let secret = ("FLASH_INTERNAL_SECRET", SECRET);
        assert!(cluster(&[nodes, ("FLASH_NODE_ID", "c"), secret]).is_err());
        assert!(cluster(&[nodes, ("FLASH_NODE_ID", "a")]).is_err());
        assert!(cluster(&[("FLASH_NODES", "a=h:1"), ("FLASH_NODE_ID", "a"), secret]).is_err());
        assert!(cluster(&[("FLASH_NODES", "a=http://h:1,a=http://h:2"), secret]).is_err());
        assert!(cluster(&[("FLASH_INTERNAL_SECRET", "short")]).is_err());
    }
}
