use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use server::config::Config;
use server::repositories::{blacklist, leases, users, Db};
use server::services::queue::rabbit::{self, dead, Topology};
use server::startup::{leptos_options, shutdown_signal, Application};

#[derive(Parser)]
#[command(
    name = "server",
    about = "Flash Sale: a flash-sale server that never oversells"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Web, validation, stock and consumer in one process (the default).
    Serve,
    /// A validation node on the ring (`FLASH_NODES`, `FLASH_NODE_ID`): web + purchase checks,
    /// stock from `FLASH_STOCK_NODES`, orders to RabbitMQ; no consumer.
    Node,
    /// A quantity-control owner serving `FLASH_STOCK_NODES` clients over HTTP.
    Stock,
    /// A RabbitMQ → database order writer.
    Consumer,
    /// Manage the blacklist.
    Blacklist {
        #[command(subcommand)]
        action: BlacklistAction,
    },
    /// Store the orders still queued, then recount sold and leased stock: what dead owners held
    /// and did not sell goes back (safe during a sale: live owners keep their leases).
    Reconcile,
    /// Log a user out everywhere: their logins so far stop counting (within seconds on every node).
    Revoke { user_id: i64 },
    /// A load balancer's configuration from `FLASH_NODES`: each shopper to their owner node.
    Balancer {
        #[arg(value_enum)]
        kind: BalancerKind,
        /// Where the balancer listens.
        #[arg(long, default_value = "0.0.0.0:80")]
        listen: String,
    },
    /// The dead-letter queue (`<FLASH_QUEUE>.dead`): orders that could not be written.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum BalancerKind {
    Nginx,
    Haproxy,
}

#[derive(Subcommand)]
enum DlqAction {
    /// Each dead message as a JSON line: its orders, the reason, the tries (left in the queue).
    List,
    /// Move the dead messages back to the order queue, their tries forgotten.
    Replay,
}

#[derive(Subcommand)]
enum BlacklistAction {
    Add {
        user_id: i64,
        #[arg(long, default_value = "added by an operator")]
        reason: String,
    },
    Remove {
        user_id: i64,
    },
    List,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    server::telemetry::init();
    let cli = Cli::parse();
    let mut cfg = Config::from_env()?;
    if matches!(cli.command, None | Some(Command::Serve | Command::Node)) {
        cfg.check_cookie_role()?;
    }
    match cli.command.unwrap_or(Command::Serve) {
        Command::Node if cfg.cluster.nodes.is_empty() || cfg.amqp_url.is_none() => {
            anyhow::bail!("a node needs FLASH_NODES, FLASH_NODE_ID and AMQP_URL (see README)")
        }
        Command::Stock => {
            let owner = server::processes::StockOwner::build(&cfg).await?;
            println!("Stock owner is ready at http://{}", owner.local_addr()?);
            owner.run_until(shutdown_signal()).await
        }
        Command::Consumer => server::processes::run_consumer(&cfg, shutdown_signal()).await,
        command @ (Command::Serve | Command::Node) => {
            if matches!(command, Command::Node) {
                cfg.run_consumer = false;
            }
            let app = Application::build(cfg.clone(), leptos_options(&cfg)).await?;
            let addr = app.local_addr();
            tracing::info!("Flash Sale is listening on http://{addr}");
            println!("Flash Sale is ready at http://{addr}");
            app.run_until(shutdown_signal()).await
        }
        Command::Blacklist { action } => {
            let db = Db::connect(cfg.database_url()).await?;
            let now = server::now_ms();
            match action {
                BlacklistAction::Add { user_id, reason } => {
                    if blacklist::add(&db, user_id, &reason, now).await? {
                        println!("user {user_id} blacklisted");
                    } else {
                        anyhow::bail!("no user with id {user_id}");
                    }
                }
                BlacklistAction::Remove { user_id } => {
                    let gone = blacklist::remove(&db, user_id).await?;
                    println!(
                        "user {user_id} {}",
                        if gone {
                            "removed"
                        } else {
                            "was not blacklisted"
                        }
                    );
                }
                BlacklistAction::List => {
                    for e in blacklist::list(&db).await? {
                        println!("{}\t{}\t{}", e.user_id, e.user_name, e.reason);
                    }
                }
            }
            Ok(())
        }
        Command::Revoke { user_id } => {
            let db = Db::connect(cfg.database_url()).await?;
            if !users::revoke_logins(&db, user_id, server::now_ms()).await? {
                anyhow::bail!("no user with id {user_id}");
            }
            println!("user {user_id}: every login so far revoked");
            Ok(())
        }
        Command::Balancer { kind, listen } => {
            let nodes = &cfg.cluster.nodes;
            if nodes.len() < 2 {
                anyhow::bail!(
                    "FLASH_NODES lists fewer than two nodes: there is nothing to balance"
                );
            }
            print!(
                "{}",
                match kind {
                    BalancerKind::Nginx => server::balancer::nginx(nodes, &listen),
                    BalancerKind::Haproxy => server::balancer::haproxy(nodes, &listen),
                }
            );
            Ok(())
        }
        Command::Dlq { action } => {
            let topology = Topology::from_config(&cfg)
                .ok_or_else(|| anyhow::anyhow!("AMQP_URL must be set for the dead-letter queue"))?;
            match action {
                DlqAction::List => {
                    for letter in dead::list(&topology).await? {
                        println!("{}", serde_json::to_string(&letter)?);
                    }
                }
                DlqAction::Replay => {
                    let done = dead::replay(&topology).await?;
                    println!(
                        "{} messages back in {}, {} undecodable left in {}",
                        done.moved,
                        topology.queue,
                        done.kept,
                        topology.dead_letter()
                    );
                }
            }
            Ok(())
        }
        Command::Reconcile => {
            let db = Db::connect(cfg.database_url()).await?;
            if let Some(topology) = Topology::from_config(&cfg) {
                let n = rabbit::drain(&db, &topology).await?;
                println!("drained: {n} queued messages stored first");
            }
            let n = leases::reconcile(&db, server::now_ms()).await?;
            println!("reconciled: {n} products had leased but unsold units returned");
            Ok(())
        }
    }
}
