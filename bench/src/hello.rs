//! The baseline of `bench/run.sh ratio`: an axum hello-world on the same runtime settings as the
//! server, so that the purchase path is measured as a ratio to "the least a web server can do".
//! It answers any method and path, so that wrk can also send it the purchase runs' own requests
//! (same script, same bytes): the client's cost is then the same on both sides of the ratio.

use axum::routing::get;
use axum::Router;

// The server's allocator too.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn hello() -> &'static str {
    "Hello, World!"
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::var("HELLO_ADDR").unwrap_or_else(|_| "127.0.0.1:3901".into());
    // "/" stays a route of its own: the plain-GET baseline takes the same path as it always did.
    let app = Router::new().route("/", get(hello)).fallback(hello);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("hello-world baseline on http://{addr}");
    axum::serve(listener, app).await?;
    Ok(())
}
