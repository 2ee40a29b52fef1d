//! Threads that give way: the captcha drawers and the password hashers run beside the sale's
//! async workers, and under contention the workers go first (Linux: the nice value is per
//! thread, so this touches the calling thread only).

/// Lowers the calling thread's priority to `nice` (0 normal, 19 lowest).
pub fn give_way(nice: i32, who: &str) {
    // SAFETY: setpriority only reads its arguments; 0 is the calling thread.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    if rc != 0 {
        tracing::warn!(who, "thread keeps its CPU priority");
    }
}
