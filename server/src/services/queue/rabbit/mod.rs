//! RabbitMQ mode: the queues' topology, the publisher the nodes submit to, and the consumer that
//! writes the orders to the database.

mod consumer;
pub mod dead;
mod drain;
mod publisher;
mod topology;

pub use consumer::consume;
pub use drain::drain;
pub use publisher::RabbitQueue;
pub use topology::Topology;
