//! The baseline of `bench/run.sh ratio`: an axum hello-world on the same runtime settings as the
//! server, so that the purchase path is measured as a ratio to "the least a web server can do".

use axum::routing::get;
use axum::Router;

// The server's allocator too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::var("HELLO_ADDR").unwrap_or_else(|_| "127.0.0.1:3901".into());
    let app = Router::new().route("/", get(|| async { "Hello, World!" }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("hello-world baseline on http://{addr}");
    axum::serve(listener, app).await?;
    Ok(())
}
