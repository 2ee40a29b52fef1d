use tracing_subscriber::{fmt, EnvFilter};

/// `RUST_LOG` decides; the default keeps our own crate at info and the noisy ones quiet.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,lapin=warn,tower_http=warn"));
    let _ = fmt().with_env_filter(filter).with_target(false).try_init();
}
