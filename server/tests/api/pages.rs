//! Server-rendered pages, as a browser without JavaScript gets them.

use crate::helpers::spawn_app;
use std::time::Duration;

/// Building a server finds the app's routes by rendering it with resource loads suppressed by a
/// process-wide flag (leptos#4773). A page rendered meanwhile by a server already running in the
/// same process (tests, several nodes in one process) waited forever on its resources; the route
/// list is now found once per process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_while_other_servers_start_in_the_same_process() {
    let app = spawn_app(&[]).await;
    let id = app.on_sale(3).await;
    let builder = tokio::task::spawn_blocking(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            for _ in 0..16 {
                spawn_app(&[]).await.stop().await;
            }
        })
    });
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut pages = 0;
    while !builder.is_finished() || pages < 20 {
        for path in ["/".to_string(), format!("/product/{id}")] {
            let stalled = |e: reqwest::Error| format!("{path} after {pages} pages: {e}");
            let r = http
                .get(app.url(&path))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{}", stalled(e)));
            let status = r.status();
            let html = r.text().await.unwrap_or_else(|e| panic!("{}", stalled(e)));
            assert_eq!(status, reqwest::StatusCode::OK, "{path}: {html}");
            assert!(html.contains("</html>"), "{path}: {html}");
            pages += 1;
        }
    }
    builder.await.expect("servers built");
    app.stop().await;
}
