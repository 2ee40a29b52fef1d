//! A sweep that runs every `period` while its service lives: the task holds only a weak handle
//! and ends with the last strong one. Outside a runtime (plain unit tests) nothing runs.

use std::sync::Arc;
use std::time::Duration;

pub fn every<T: Send + Sync + 'static>(
    period: Duration,
    of: &Arc<T>,
    sweep: impl Fn(&T) + Send + 'static,
) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(of);
    rt.spawn(async move {
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            let Some(alive) = weak.upgrade() else { return };
            sweep(&alive);
        }
    });
}
