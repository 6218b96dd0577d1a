//! What `herald queue` prints: a summary a person can read at a glance,
//! whatever the size of the queue, or one inbox's jobs.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::store::{JobRow, QueueStatus, TOP_INBOXES};

/// Counts per state, the oldest pending job's age, the inboxes with most
/// pending or failed jobs, and the hosts unavailable or circuit-broken.
pub fn summary(status: &QueueStatus, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "pending {}, delivered {}, failed {}", status.pending, status.delivered, status.failed);
    if let Some(oldest) = status.oldest_pending {
        let _ = writeln!(out, "oldest pending job queued {} ago ({oldest})", age(now - oldest));
    }
    if !status.inboxes.is_empty() {
        let _ = writeln!(out, "\ninboxes with most pending or failed jobs (top {TOP_INBOXES}):");
        let _ = writeln!(out, "{:>8} {:>8}  inbox  last error", "pending", "failed");
        for inbox in &status.inboxes {
            let _ = writeln!(
                out,
                "{:>8} {:>8}  {}  {}",
                inbox.pending,
                inbox.failed,
                inbox.inbox,
                inbox.last_error.as_deref().unwrap_or("")
            );
        }
    }
    if !status.hosts.is_empty() {
        let _ = writeln!(out, "\nhosts not delivered to:");
        for host in &status.hosts {
            let why = match (host.unavailable_since, host.circuit_until) {
                (Some(since), _) => format!("unavailable since {since} (failures on {} days)", host.failure_days),
                (None, Some(until)) => {
                    format!("circuit open until {until} ({} failed probes in a row)", host.circuit_opens)
                }
                (None, None) => "failing".to_owned(),
            };
            let _ = writeln!(out, "  {}  {why}", host.host);
        }
    }
    out
}

/// One inbox's jobs, newest first.
pub fn inbox_report(inbox: &str, jobs: &[JobRow]) -> String {
    let mut out = String::new();
    if jobs.is_empty() {
        let _ = writeln!(out, "no jobs for {inbox}");
        return out;
    }
    let _ = writeln!(out, "{} jobs for {inbox} (newest first):", jobs.len());
    for job in jobs {
        let _ = writeln!(
            out,
            "  #{} {:<9} attempts {:>2}  due {}  {}  {}{}",
            job.id,
            job.state.as_str(),
            job.attempts,
            job.next_attempt_at,
            job.activity_id,
            job.last_status.map(|s| format!("{s} ")).unwrap_or_default(),
            job.last_error.as_deref().unwrap_or("")
        );
    }
    out
}

fn age(delta: chrono::TimeDelta) -> String {
    let seconds = delta.num_seconds().max(0);
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds / 60),
        3600..86_400 => format!("{:.1} h", seconds as f64 / 3600.0),
        _ => format!("{:.1} days", seconds as f64 / 86_400.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{HostHealth, InboxBacklog};

    #[test]
    fn the_summary_stays_short_and_names_broken_hosts() {
        let now = Utc::now();
        let status = QueueStatus {
            pending: 10_000,
            delivered: 3,
            failed: 1,
            oldest_pending: Some(now - chrono::TimeDelta::minutes(5)),
            inboxes: vec![InboxBacklog {
                inbox: "https://a.example/inbox".into(),
                pending: 9,
                failed: 1,
                last_error: Some("answered 503".into()),
            }],
            hosts: vec![HostHealth {
                host: "dead.example".into(),
                failure_days: 1,
                unavailable_since: None,
                circuit_until: Some(now),
                circuit_opens: 2,
            }],
        };
        let text = summary(&status, now);
        assert!(text.starts_with("pending 10000, delivered 3, failed 1\n"), "{text}");
        assert!(text.contains("queued 5 min ago"), "{text}");
        assert!(text.contains("https://a.example/inbox  answered 503"), "{text}");
        assert!(text.contains("dead.example  circuit open until"), "{text}");
        assert!(text.lines().count() < 12, "{text}");
    }
}
