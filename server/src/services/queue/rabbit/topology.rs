//! The queues' names and their declaration: `<name>` for orders, `<name>.dead` for messages the
//! consumer cannot read or, after its retries, write. Every publisher and consumer declares both
//! (idempotent). Classic queues on one broker by default; quorum queues (replicated over a
//! RabbitMQ cluster, confirmed once a majority has the message) with `FLASH_QUEUE_TYPE=quorum`.
//! `AMQP_URL` may list several nodes, comma-separated: a connection tries them in turn, starting
//! at a different one each time, so that a lost node only moves its clients to the others.

use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, Connection, ConnectionProperties};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Queue names and where and how they live.
#[derive(Debug, Clone)]
pub struct Topology {
    /// One broker's URL, or a cluster's, comma-separated.
    pub url: String,
    pub queue: String,
    pub quorum: bool,
}

/// Which node of a list the next connection tries first.
static NEXT_NODE: AtomicUsize = AtomicUsize::new(0);

impl Topology {
    /// Classic queues on `url`.
    pub fn new(url: impl Into<String>, queue: impl Into<String>) -> Topology {
        Topology {
            url: url.into(),
            queue: queue.into(),
            quorum: false,
        }
    }

    /// `AMQP_URL`, `FLASH_QUEUE` and `FLASH_QUEUE_TYPE`; `None` without a broker (the embedded
    /// queue).
    pub fn from_config(cfg: &crate::config::Config) -> Option<Topology> {
        Some(Topology {
            quorum: cfg.quorum_queues,
            ..Topology::new(cfg.amqp_url()?, cfg.queue_name.clone())
        })
    }

    pub fn dead_letter(&self) -> String {
        format!("{}.dead", self.queue)
    }

    /// A connection to the first node of the list that answers, and a channel with the queues
    /// declared.
    pub async fn connect(&self) -> lapin::Result<(Connection, Channel)> {
        let nodes: Vec<&str> = self.url.split(',').map(str::trim).collect();
        let first = NEXT_NODE.fetch_add(1, Ordering::Relaxed);
        // `split` yields at least one: the last node's error is the answer.
        let last = nodes.len() - 1;
        for i in 0..nodes.len() {
            let url = nodes[(first + i) % nodes.len()];
            match Connection::connect(url, ConnectionProperties::default()).await {
                Ok(conn) => {
                    let channel = conn.create_channel().await?;
                    self.declare(&channel).await?;
                    return Ok((conn, channel));
                }
                Err(e) if i == last => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, node = i, "broker node unreachable, trying the next")
                }
            }
        }
        unreachable!("the loop returns at its last node")
    }

    /// The arguments every queue of this topology is declared with.
    fn kind(&self) -> FieldTable {
        let mut args = FieldTable::default();
        if self.quorum {
            args.insert(
                "x-queue-type".into(),
                AMQPValue::LongString(LongString::from("quorum")),
            );
        }
        args
    }

    /// Declares both queues (idempotent; every publisher and consumer does it).
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel
            .queue_declare(self.dead_letter().as_str().into(), durable, self.kind())
            .await?;
        let mut args = self.kind();
        if self.quorum {
            // Nothing dead-lettered is lost with a broker node: at-least-once dead-lettering,
            // which needs publishers refused (not messages dropped) when a queue is full.
            args.insert(
                "x-dead-letter-strategy".into(),
                AMQPValue::LongString(LongString::from("at-least-once")),
            );
            args.insert(
                "x-overflow".into(),
                AMQPValue::LongString(LongString::from("reject-publish")),
            );
        }
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(LongString::from("")),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(LongString::from(self.dead_letter().as_str())),
        );
        channel
            .queue_declare(self.queue.as_str().into(), durable, args)
            .await?;
        Ok(())
    }
}
