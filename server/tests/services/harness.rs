//! A loopback cluster of real `server` processes — 3 validation nodes on the ring, 2 stock
//! owners, 2 consumers — on the machine's RabbitMQ and MariaDB, with each process killable and
//! restartable, pausable (SIGSTOP) by name (`node-0`, `stock-1`, `consumer-0`, ...). Its
//! shoppers are in `harness_shoppers.rs`.

use crate::backends::{amqp_url, fresh_mysql_url, unique_queue};
use crate::helpers::{TestApp, ANSWER, SECRET};
use rand::Rng;
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
    /// For the shoppers (`harness_shoppers.rs`).
    pub(crate) http: reqwest::Client,
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
            let url = |(i, p)| match named {
                true => format!("node-{i}=http://127.0.0.1:{p}"),
                false => format!("http://127.0.0.1:{p}"),
            };
            let urls: Vec<String> = ports.iter().enumerate().map(url).collect();
            urls.join(",")
        };
        let (ring, stock) = (list(&node_ports, true), list(&stock_ports, false));
        let spec = |role, port, env| Spec { role, port, env };
        let mut specs = BTreeMap::new();
        for (i, port) in stock_ports.iter().enumerate() {
            specs.insert(format!("stock-{i}"), spec("stock", *port, common.clone()));
        }
        for i in 0..2 {
            specs.insert(format!("consumer-{i}"), spec("consumer", 0, common.clone()));
        }
        for (i, port) in node_ports.iter().enumerate() {
            let mut env = common.clone();
            env.extend([
                ("FLASH_NODES", ring.clone()),
                ("FLASH_NODE_ID", format!("node-{i}")),
                ("FLASH_STOCK_NODES", stock.clone()),
            ]);
            specs.insert(format!("node-{i}"), spec("node", *port, env));
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
            send(child.id(), libc::SIGTERM);
            let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
        }
    }

    /// Starts a process that was killed, and waits until it serves.
    pub async fn revive(&self, name: &str) {
        self.launch(name);
        self.wait(name).await;
    }

    /// A graceful restart: SIGTERM, a clean exit, started again.
    pub async fn restart(&self, name: &str) {
        self.terminate(name).await;
        self.revive(name).await;
    }

    /// SIGSTOP: the process freezes with its connections open, as a stalled machine does.
    pub fn pause(&self, name: &str) {
        let pid = self.table().get(name).and_then(Child::id);
        assert!(send(pid, libc::SIGSTOP), "SIGSTOP {name}");
    }

    /// SIGCONT after `pause`.
    pub fn resume(&self, name: &str) {
        let pid = self.table().get(name).and_then(Child::id);
        assert!(send(pid, libc::SIGCONT), "SIGCONT {name}");
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
        let names: Vec<String> = self.table().keys().cloned().collect();
        for role in ["node", "consumer", "stock"] {
            for name in names.iter().filter(|n| self.specs[*n].role == role) {
                self.terminate(name).await;
            }
        }
    }
}

pub fn epoch_ms() -> u128 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |d| d.as_millis())
}

/// kill(2) to one of the cluster's processes; false if it is gone.
fn send(pid: Option<u32>, signal: libc::c_int) -> bool {
    // SAFETY: kill(2) touches no memory of ours; the pid is our child, not yet reaped.
    pid.is_some_and(|pid| unsafe { libc::kill(pid as libc::pid_t, signal) } == 0)
}
