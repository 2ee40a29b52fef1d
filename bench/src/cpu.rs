//! The CPU a sale costs the machine: user + system time of every process whose command name
//! (`/proc/PID/comm`) is one of those asked for — our `server` processes, RabbitMQ's `beam.smp`,
//! `mariadbd`, `nginx` — read from `/proc` when the crowd starts and once the last order is
//! committed. The load generator's own CPU is apart (its name is `loadgen`).

use std::collections::HashMap;

/// Clock ticks per second of `/proc/PID/stat` (`getconf CLK_TCK`; 100 on every Linux kernel
/// configuration in use: the `USER_HZ` the ABI fixes).
const TICKS_PER_SECOND: u64 = 100;

/// CPU ticks so far per matching process: its name, its role (`server`'s first argument:
/// serve, node, stock, consumer) and its ticks.
pub struct Snapshot(HashMap<u32, (String, String, u64)>);

pub fn snapshot(names: &[String]) -> Snapshot {
    let mut found = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Snapshot(found);
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if let Some((comm, ticks)) = parse_stat(&stat) {
            if names.iter().any(|n| n == comm) {
                let role = role_of(pid, comm);
                found.insert(pid, (comm.to_string(), role, ticks));
            }
        }
    }
    Snapshot(found)
}

/// `(comm, utime + stime)` from a `/proc/PID/stat` line; the name is in parentheses and may
/// hold spaces, so the fields are counted from its closing one.
fn parse_stat(stat: &str) -> Option<(&str, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = &stat[open + 1..close];
    let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // After the name: state(3) ... utime(14) stime(15), 1-based over the whole line.
    let utime: u64 = rest.get(11)?.parse().ok()?;
    let stime: u64 = rest.get(12)?.parse().ok()?;
    Some((comm, utime + stime))
}

/// A `server` process's role ("server node"); other processes go by their name alone.
fn role_of(pid: u32, comm: &str) -> String {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    match cmdline.split(|b| *b == 0).nth(1) {
        Some(arg) if comm == "server" && !arg.is_empty() => {
            format!("{comm} {}", String::from_utf8_lossy(arg))
        }
        _ => comm.to_string(),
    }
}

/// Microseconds of CPU per command name between two snapshots; a process started in between
/// counts from zero, one that ended in between is missed (none should, during a sale).
pub fn used_us(before: &Snapshot, after: &Snapshot) -> HashMap<String, u64> {
    used_by(before, after, false)
}

/// The same, with each `server` process under its role: where a cluster's CPU goes.
pub fn used_us_by_role(before: &Snapshot, after: &Snapshot) -> HashMap<String, u64> {
    used_by(before, after, true)
}

fn used_by(before: &Snapshot, after: &Snapshot, by_role: bool) -> HashMap<String, u64> {
    let mut by: HashMap<String, u64> = HashMap::new();
    for (pid, (name, role, ticks)) in &after.0 {
        let earlier = before.0.get(pid).map_or(0, |(_, _, t)| *t);
        let us = ticks.saturating_sub(earlier) * 1_000_000 / TICKS_PER_SECOND;
        let key = if by_role { role } else { name };
        *by.entry(key.clone()).or_default() += us;
    }
    by
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_times_after_a_name_with_spaces_and_parentheses() {
        let line = "4242 (beam (smp) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 30 0";
        assert_eq!(parse_stat(line), Some(("beam (smp) x", 325)));
    }

    #[test]
    fn this_process_is_found_and_its_spinning_counted() {
        let me = std::fs::read_to_string("/proc/self/comm").unwrap();
        let names = vec![me.trim().to_string()];
        let before = snapshot(&names);
        assert!(!before.0.is_empty(), "the test process itself matches");
        let spin_until = std::time::Instant::now() + std::time::Duration::from_millis(200);
        let mut x = 0u64;
        while std::time::Instant::now() < spin_until {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
        }
        let used: u64 = used_us(&before, &snapshot(&names)).values().sum();
        // 200 ms of wall time on a busy thread: at least some ticks, never more than all cores'.
        assert!((50_000..200_000 * 64).contains(&used), "{used} µs");
    }
}
