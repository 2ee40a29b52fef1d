//! The queues' names and their declaration: `<name>` for orders, `<name>.dead` for messages the
//! consumer cannot read or, after its retries, write. Every publisher and consumer declares both
//! (idempotent).

use lapin::options::QueueDeclareOptions;
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{Channel, Connection, ConnectionProperties};

/// Queue names: `<name>` for orders, `<name>.dead` for messages the consumer cannot read or write.
#[derive(Debug, Clone)]
pub struct Topology {
    pub url: String,
    pub queue: String,
}

impl Topology {
    /// `AMQP_URL` and `FLASH_QUEUE`; `None` without a broker (the embedded queue).
    pub fn from_config(cfg: &crate::config::Config) -> Option<Topology> {
        Some(Topology {
            url: cfg.amqp_url()?.to_string(),
            queue: cfg.queue_name.clone(),
        })
    }

    pub fn dead_letter(&self) -> String {
        format!("{}.dead", self.queue)
    }

    pub async fn connect(&self) -> lapin::Result<(Connection, Channel)> {
        let conn = Connection::connect(&self.url, ConnectionProperties::default()).await?;
        let channel = conn.create_channel().await?;
        self.declare(&channel).await?;
        Ok((conn, channel))
    }

    /// Declares both queues (idempotent; every publisher and consumer does it).
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        let durable = QueueDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel
            .queue_declare(
                self.dead_letter().as_str().into(),
                durable,
                FieldTable::default(),
            )
            .await?;
        let mut args = FieldTable::default();
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
