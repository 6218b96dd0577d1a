//! The delivery worker: drains the durable queue in `store`.
//!
//! Outcomes (Mastodon's rules): 2xx delivered; 410 Gone drops the followers
//! behind that inbox; 429 and 5xx and network errors are retried; any other
//! 4xx is permanent. Attempt n waits n⁴ + 15 s, or the server's
//! `Retry-After` if longer. A host whose deliveries failed on 7 different
//! days (Mastodon's rule) is unavailable: its jobs are dropped until a
//! delivery succeeds or it sends us an activity.
//!
//!
//! | attempt | wait    | covers an outage of |
//! |--------:|--------:|--------------------:|
//! | 1       | 16 s    | a restart           |
//! | 4       | 4.5 min | a deploy            |
//! | 8       | 68 min  | an afternoon        |
//! | 12      | 5.8 h   | a night             |
//! | 16      | 18 h    | about 2.8 days in all |

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::StatusCode;
use tokio::sync::Notify;
use url::Url;

use super::client::{Client, Delivered, FetchError};
use crate::config::DeliverySettings;
use crate::error::StoreError;
use crate::store::{Job, Outcome, Store};

/// What one step of a worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionOutcome {
    /// A job was attempted (whatever its result).
    TaskCompleted,
    /// Nothing was due.
    EmptyQueue,
}

/// The wait before attempt `attempt + 1`, after `attempt` failures: n⁴ + 15 s.
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_secs(u64::from(attempt).pow(4) + 15)
}

/// Jobs a worker claims at once and sends concurrently: fewer queue writes
/// per delivery (one claim and one outcome transaction per batch).
pub const BATCH: usize = 8;

/// Claims up to [`BATCH`] due jobs, attempts them concurrently, and records
/// their outcomes in one transaction.
#[tracing::instrument(skip_all, err)]
pub async fn try_execute_task(
    store: &Store,
    client: &Client,
    settings: &DeliverySettings,
    now: DateTime<Utc>,
) -> Result<ExecutionOutcome, StoreError> {
    let jobs = store.claim_deliveries(now, settings.lock, BATCH).await?;
    if jobs.is_empty() {
        return Ok(ExecutionOutcome::EmptyQueue);
    }
    let mut attempts = tokio::task::JoinSet::new();
    for job in jobs {
        let (store, client, max_attempts) = (store.clone(), client.clone(), settings.max_attempts);
        attempts.spawn(async move { attempt(&store, &client, max_attempts, job).await });
    }
    let mut outcomes = Vec::new();
    while let Some(joined) = attempts.join_next().await {
        match joined {
            Ok(Ok(outcome)) => outcomes.push(outcome),
            Ok(Err(error)) => tracing::warn!(%error, "delivery bookkeeping failed; the job will be retried"),
            // A panicked attempt leaves its job locked; it is retried after the lock.
            Err(error) => tracing::error!(%error, "delivery attempt panicked"),
        }
    }
    store.record_outcomes(&outcomes, Utc::now()).await?;
    Ok(ExecutionOutcome::TaskCompleted)
}

#[tracing::instrument(skip_all, fields(job = job.id, inbox = %job.inbox, attempts = job.attempts), err)]
async fn attempt(store: &Store, client: &Client, max_attempts: u32, job: Job) -> Result<Outcome, StoreError> {
    let id = job.id;
    let failed = |status, error: String| Outcome::Failed { id, status, error };
    let Ok(inbox) = Url::parse(&job.inbox) else { return Ok(failed(None, "not a URL".into())) };
    let host = inbox.host_str().unwrap_or_default().to_owned();
    let health = store.host_health(&host).await?;
    if let Some(since) = health.as_ref().and_then(|h| h.unavailable_since) {
        return Ok(failed(
            None,
            format!("{host} is unavailable since {since} (failures on 7 days); skipped until it answers"),
        ));
    }
    let (status, retry_after, error) = match client.post(&inbox, job.body.as_bytes()).await {
        Err(error @ (FetchError::Private(_) | FetchError::Scheme(_))) => return Ok(failed(None, error.to_string())),
        Err(error) => (None, None, error.to_string()),
        Ok(Delivered::Network(error)) => (None, None, error),
        Ok(Delivered::Status(status, _)) if status.is_success() => {
            if health.is_some() {
                store.record_host_success(&host).await?;
            }
            return Ok(Outcome::Delivered { id, status: status.as_u16() });
        }
        Ok(Delivered::Status(StatusCode::GONE, _)) => {
            let removed = store.remove_followers_at(&job.inbox).await?;
            tracing::info!(removed, "inbox is gone; its followers were removed");
            return Ok(failed(Some(410), "410 Gone".into()));
        }
        Ok(Delivered::Status(status, retry_after))
            if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() =>
        {
            (Some(status.as_u16()), retry_after, format!("answered {status}"))
        }
        Ok(Delivered::Status(status, _)) => {
            return Ok(failed(Some(status.as_u16()), format!("answered {status}; not retried")));
        }
    };
    let now = Utc::now();
    if store.record_host_failure(&host, now).await? {
        tracing::warn!(host, "host marked unavailable after failures on 7 different days");
    }
    let failures = u32::try_from(job.attempts + 1).unwrap_or(u32::MAX);
    if failures >= max_attempts {
        tracing::warn!(%error, "giving up after {failures} attempts");
        return Ok(failed(status, error));
    }
    let wait = backoff(failures).max(retry_after.unwrap_or_default());
    let at = now + TimeDelta::from_std(wait).unwrap_or(TimeDelta::days(1));
    tracing::debug!(%error, ?wait, "will retry");
    Ok(Outcome::Retry { id, at, status, error })
}

/// A worker: drains due jobs, then sleeps until notified (a publish or a
/// Follow in this process) or for a second (work queued by another process).
pub async fn run_worker(store: Store, client: Client, settings: DeliverySettings, notify: Arc<Notify>) {
    loop {
        let notified = notify.notified();
        match try_execute_task(&store, &client, &settings, Utc::now()).await {
            Ok(ExecutionOutcome::TaskCompleted) => continue,
            Ok(ExecutionOutcome::EmptyQueue) => {}
            Err(error) => tracing::warn!(%error, "delivery worker"),
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), notified).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_schedule_grows_and_spans_more_than_two_days() {
        let waits: Vec<Duration> = (1..=16).map(backoff).collect();
        assert!(waits.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(waits[0], Duration::from_secs(16));
        let total: u64 = (1..16).map(|n| backoff(n).as_secs()).sum();
        assert!(total > 2 * 86_400, "{total}");
    }
}
