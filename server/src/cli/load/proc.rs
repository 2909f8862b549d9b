//! What the processes of a run cost: CPU seconds and memory from /proc (Linux), and the
//! machine they ran on.

use super::*;

#[derive(Serialize, Default, Clone, Copy)]
pub(super) struct ProcStats {
    pub(super) cpu_s: f64,
    pub(super) rss_kib: u64,
    pub(super) peak_rss_kib: u64,
}

#[derive(Serialize)]
pub(super) struct Machine {
    pub(super) cores: usize,
    pub(super) mem_kib: u64,
}

pub(super) fn watched_stats(pids: &[u32]) -> Vec<ProcStats> {
    pids.iter().map(|p| proc_stats(Some(*p))).collect()
}

/// CPU time spent between two readings of the same processes, and their memory after.
pub(super) fn spent(before: &[ProcStats], after: &[ProcStats]) -> Vec<ProcStats> {
    before
        .iter()
        .zip(after)
        .map(|(b, a)| ProcStats {
            cpu_s: a.cpu_s - b.cpu_s,
            ..*a
        })
        .collect()
}

/// CPU seconds and memory of a process (`None`: this one), from /proc (Linux).
pub(super) fn proc_stats(pid: Option<u32>) -> ProcStats {
    let dir = pid.map_or_else(|| "/proc/self".to_owned(), |p| format!("/proc/{p}"));
    let ticks = 100.0; // USER_HZ on Linux
    let cpu_s = std::fs::read_to_string(format!("{dir}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command (which may contain spaces) in parentheses.
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / ticks)
        })
        .unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("{dir}/status")).unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    ProcStats {
        cpu_s,
        rss_kib: kib("VmRSS:"),
        peak_rss_kib: kib("VmHWM:"),
    }
}

pub(super) fn machine() -> Machine {
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        mem_kib,
    }
}
