use clap::{Parser, Subcommand};
use server::config::Config;
use server::repositories::{blacklist, products, Db};
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
    /// Manage the blacklist.
    Blacklist {
        #[command(subcommand)]
        action: BlacklistAction,
    },
    /// Recompute sold and leased stock from committed orders (run with the sale stopped).
    Reconcile,
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
    let cfg = Config::from_env()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(cfg.clone(), leptos_options(&cfg)).await?;
            let addr = app.local_addr();
            tracing::info!("Flash Sale is listening on http://{addr}");
            println!("Flash Sale is ready at http://{addr}");
            app.run_until(shutdown_signal()).await
        }
        Command::Blacklist { action } => {
            let db = Db::connect(&cfg.database_url).await?;
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
        Command::Reconcile => {
            let db = Db::connect(&cfg.database_url).await?;
            let n = products::reconcile(&db).await?;
            println!("reconciled: {n} products had leased but unsold units returned");
            Ok(())
        }
    }
}
