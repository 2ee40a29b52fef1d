//! A loopback cluster of real `server` processes — 3 validation nodes on the ring, 2 stock
//! owners, 2 consumers — on the machine's RabbitMQ and MariaDB, with each process killable and
//! restartable by name (`node-0`, `stock-1`, `consumer-0`, ...).

use crate::backends::{amqp_url, fresh_mysql_url, unique_queue};
use crate::helpers::{Shopper, TestApp, ANSWER, SECRET};
use rand::Rng;
use reqwest::StatusCode;
use serde_json::{json, Value};
use server::repositories::Db;
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

const INTERNAL: &str = "cluster-internal-secret-for-the-tests-only";

struct Spec {
    role: &'static str,
    port: u16,
    env: Vec<(&'static str, String)>,
}

pub struct Cluster {
    pub db: Db,
    pub db_url: String,
    pub queue: String,
    pub nodes: Vec<TestApp>,
    specs: BTreeMap<String, Spec>,
    procs: std::sync::Mutex<BTreeMap<String, Child>>,
    http: reqwest::Client,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn healthy(port: u16) {
    let http = reqwest::Client::new();
    for _ in 0..300 {
        let url = format!("http://127.0.0.1:{port}/healthz");
        if http
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("process on port {port} did not become healthy");
}

impl Cluster {
    pub async fn start(extra: &[(&'static str, &str)]) -> Cluster {
        let db_url = fresh_mysql_url().await;
        let db = Db::connect(&db_url).await.expect("cluster db");
        Self::start_on(db_url, db, unique_queue(), extra).await
    }

    /// A cluster on an existing database and queue (e.g. after a full stop).
    pub async fn start_on(
        db_url: String,
        db: Db,
        queue: String,
        extra: &[(&'static str, &str)],
    ) -> Cluster {
        let (node_ports, stock_ports) = ([0; 3].map(|_| free_port()), [0; 2].map(|_| free_port()));
        let common: Vec<(&'static str, String)> = [
            ("DATABASE_URL", db_url.clone()),
            ("AMQP_URL", amqp_url()),
            ("FLASH_QUEUE", queue.clone()),
            ("FLASH_SECRET", SECRET.into()),
            ("FLASH_INTERNAL_SECRET", INTERNAL.into()),
            ("FLASH_TEST_MODE", "1".into()),
            ("FLASH_CAPTCHA_TEST_ANSWER", ANSWER.into()),
            ("FLASH_RATE_LIMITS", "off".into()),
            ("FLASH_DEMO_DATA", "0".into()),
            ("FLASH_STOCK_BLOCK", "20".into()),
        ]
        .into_iter()
        .chain(extra.iter().map(|(k, v)| (*k, v.to_string())))
        .collect();
        let list = |ports: &[u16], named: bool| {
            ports
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let url = format!("http://127.0.0.1:{p}");
                    if named {
                        format!("node-{i}={url}")
                    } else {
                        url
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        };
        let (ring, stock) = (list(&node_ports, true), list(&stock_ports, false));
        let mut specs = BTreeMap::new();
        for (i, port) in stock_ports.iter().enumerate() {
            let env = common.clone();
            specs.insert(
                format!("stock-{i}"),
                Spec {
                    role: "stock",
                    port: *port,
                    env,
                },
            );
        }
        for i in 0..2 {
            let env = common.clone();
            specs.insert(
                format!("consumer-{i}"),
                Spec {
                    role: "consumer",
                    port: 0,
                    env,
                },
            );
        }
        for (i, port) in node_ports.iter().enumerate() {
            let mut env = common.clone();
            env.push(("FLASH_NODES", ring.clone()));
            env.push(("FLASH_NODE_ID", format!("node-{i}")));
            env.push(("FLASH_STOCK_NODES", stock.clone()));
            specs.insert(
                format!("node-{i}"),
                Spec {
                    role: "node",
                    port: *port,
                    env,
                },
            );
        }
        let nodes = node_ports
            .iter()
            .map(|p| TestApp::remote(format!("http://127.0.0.1:{p}"), db.clone()))
            .collect();
        let cluster = Cluster {
            db,
            db_url,
            queue,
            nodes,
            specs,
            procs: Default::default(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
        };
        let names: Vec<String> = cluster.specs.keys().cloned().collect();
        for name in &names {
            cluster.launch(name);
        }
        for name in &names {
            cluster.wait(name).await;
        }
        cluster
    }

    fn launch(&self, name: &str) {
        let spec = &self.specs[name];
        let log =
            std::env::temp_dir().join(format!("flash-cluster-{}-{name}.log", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let err = file.try_clone().expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_server"));
        // SAFETY: prctl is async-signal-safe. A test killed outright (a CI timeout) must not
        // leave its cluster running: the kernel kills each process when the test dies.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .arg(spec.role)
            .envs(spec.env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{}", spec.port))
            .env("LEPTOS_OUTPUT_NAME", "flash-sale")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .expect("start server process");
        self.table().insert(name.to_string(), child);
    }

    async fn wait(&self, name: &str) {
        if self.specs[name].port != 0 {
            healthy(self.specs[name].port).await;
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Child>> {
        self.procs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `kill -9`.
    pub async fn kill(&self, name: &str) {
        let child = self.table().remove(name);
        if let Some(mut child) = child {
            let _ = child.kill().await;
        }
    }

    /// SIGTERM, and wait for a clean exit.
    pub async fn terminate(&self, name: &str) {
        let child = self.table().remove(name);
        if let Some(mut child) = child {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill")
                    .args(["-TERM", &pid.to_string()])
                    .status();
            }
            let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
        }
    }

    /// Starts a process that was killed, and waits until it serves.
    pub async fn revive(&self, name: &str) {
        self.launch(name);
        self.wait(name).await;
    }

    pub fn random_node(&self, alive: &[usize]) -> &TestApp {
        &self.nodes[alive[rand::thread_rng().gen_range(0..alive.len())]]
    }

    pub async fn on_sale(&self, units: i64) -> i64 {
        self.nodes[0].on_sale(units).await
    }

    /// Stops everything gracefully: nodes first, then consumers, then stock owners (which hand
    /// their leases back).
    pub async fn stop(self) {
        let names: Vec<String> = self.table().keys().rev().cloned().collect();
        for name in names {
            self.terminate(&name).await;
        }
    }

    /// One shopper's whole purchase, each step on a random node of `alive`. A step whose node
    /// cannot be reached (it is being restarted) starts over on another node.
    pub async fn buy_anywhere(
        &self,
        alive: &[usize],
        s: &Shopper,
        product: i64,
    ) -> (StatusCode, Value) {
        for _ in 0..50 {
            match self.try_buy(alive, s, product).await {
                Ok(answer) => return answer,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        panic!("no node answered shopper {}", s.id);
    }

    async fn try_buy(
        &self,
        alive: &[usize],
        s: &Shopper,
        product: i64,
    ) -> Result<(StatusCode, Value), reqwest::Error> {
        let path = |p: &str| format!("/api/v1/products/{product}{p}");
        let (st, cap) = self.call(alive, s, &path("/captcha"), json!({})).await?;
        if st != StatusCode::OK {
            return Ok((st, cap));
        }
        let verify = json!({"captcha_id": cap["captcha_id"], "answer": ANSWER});
        let (st, pass) = self
            .call(alive, s, &path("/captcha/verify"), verify)
            .await?;
        if st != StatusCode::OK {
            return Ok((st, pass));
        }
        let body = json!({"pass": pass["pass"]});
        self.call(alive, s, &path("/purchase"), body).await
    }

    async fn call(
        &self,
        alive: &[usize],
        s: &Shopper,
        path: &str,
        body: Value,
    ) -> Result<(StatusCode, Value), reqwest::Error> {
        let node = self.random_node(alive);
        let r = self
            .http
            .post(node.url(path))
            .header("cookie", &s.cookie)
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        Ok((status, r.json().await.unwrap_or_default()))
    }
}
