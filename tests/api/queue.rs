//! The delivery queue in the store: claiming, locks, retries.

use chrono::{TimeDelta, Utc};
use herald::config::Settings;
use herald::store::{Outcome, Outgoing, RemoteActorRow, Store};

async fn store_with_followers(dir: &std::path::Path, inboxes: usize) -> Store {
    let env = crate::common::test_env(dir);
    let store = Store::connect(&Settings::load_with_env(None, env).unwrap().database).await.unwrap();
    let followers: Vec<RemoteActorRow> = (0..inboxes)
        .map(|n| RemoteActorRow {
            id: format!("https://s{n}.example/users/a"),
            inbox: format!("https://s{n}.example/users/a/inbox"),
            // Two followers per server share an inbox.
            shared_inbox: Some(format!("https://s{}.example/inbox", n / 2)),
            key_id: String::new(),
            public_pem: String::new(),
            fetched_at: Utc::now(),
        })
        .collect();
    store.import_followers(&followers, Utc::now()).await.unwrap();
    store
}

fn activity(id: &str) -> Outgoing {
    Outgoing::new(id.to_owned(), "Create", None, format!("{{\"id\":\"{id}\"}}"))
}

#[tokio::test]
async fn jobs_go_to_each_shared_inbox_once_and_are_claimed_by_one_worker_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_followers(dir.path(), 4).await;
    let now = Utc::now();
    assert_eq!(store.enqueue_to_followers(&activity("a1"), now).await.unwrap(), 2);
    // Enqueueing the same activity again adds nothing.
    assert_eq!(store.enqueue_to_followers(&activity("a1"), now).await.unwrap(), 0);

    let lock = TimeDelta::seconds(60);
    let first = store.claim_delivery(now, lock).await.unwrap().unwrap();
    let second = store.claim_delivery(now, lock).await.unwrap().unwrap();
    assert_ne!(first.id, second.id);
    assert_eq!(first.body, "{\"id\":\"a1\"}");
    assert!(store.claim_delivery(now, lock).await.unwrap().is_none(), "both jobs are locked");

    // A worker that died: its job comes back once the lock expires.
    let later = now + lock + TimeDelta::seconds(1);
    store.finish_delivery(first.id, false, Some(202), None, now).await.unwrap();
    let again = store.claim_delivery(later, lock).await.unwrap().unwrap();
    assert_eq!(again.id, second.id);

    // A retry is not due before its time, and counts the attempt.
    let at = later + TimeDelta::seconds(16);
    store.retry_delivery(again.id, at, Some(503), "answered 503", later).await.unwrap();
    assert!(store.claim_delivery(later, lock).await.unwrap().is_none());
    let retried = store.claim_delivery(at, lock).await.unwrap().unwrap();
    assert_eq!(retried.attempts, 1);

    let status = store.queue_status(Utc::now()).await.unwrap();
    assert_eq!((status.pending, status.delivered, status.failed), (1, 1, 0));
}

#[tokio::test]
async fn a_host_failing_on_seven_different_days_becomes_unavailable_until_it_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_followers(dir.path(), 0).await;
    let start = Utc::now();
    for day in 0..6 {
        // Several failures on one day count once.
        for _ in 0..3 {
            assert!(!store.record_host_failure("down.example", start + TimeDelta::days(day), None).await.unwrap());
        }
    }
    assert_eq!(store.host_health("down.example").await.unwrap().unwrap().failure_days, 6);
    assert!(store.record_host_failure("down.example", start + TimeDelta::days(6), None).await.unwrap());
    assert!(store.host_health("down.example").await.unwrap().unwrap().unavailable_since.is_some());
    store.record_host_success("down.example").await.unwrap();
    assert_eq!(store.host_health("down.example").await.unwrap(), None);
}

#[tokio::test]
async fn old_delivered_and_failed_jobs_are_deleted_but_their_activities_stay() {
    // Arrange: one activity to 3 inboxes: one delivered, one failed, one pending.
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_followers(dir.path(), 6).await;
    let then = Utc::now() - TimeDelta::days(40);
    store.enqueue_to_followers(&activity("old"), then).await.unwrap();
    let lock = TimeDelta::seconds(60);
    let jobs = store.claim_deliveries(then, lock, 3).await.unwrap();
    assert_eq!(jobs.len(), 3);
    let outcomes = [
        Outcome::Delivered { id: jobs[0].id, status: 202 },
        Outcome::Failed { id: jobs[1].id, status: Some(403), error: "answered 403".into() },
        Outcome::Retry { id: jobs[2].id, at: then, status: None, error: "timeout".into() },
    ];
    store.record_outcomes(&outcomes, then).await.unwrap();

    // Act: delivered kept 7 days, failed 30.
    let now = Utc::now();
    let (delivered, failed) =
        store.purge_deliveries(now - TimeDelta::days(7), now - TimeDelta::days(30)).await.unwrap();

    // Assert: the pending job and the activity remain.
    assert_eq!((delivered, failed), (1, 1));
    let status = store.queue_status(now).await.unwrap();
    assert_eq!((status.pending, status.delivered, status.failed), (1, 0, 0));
    assert_eq!(status.oldest_pending.map(|t| t.timestamp()), Some(then.timestamp()));
    assert_eq!(store.activity_count().await.unwrap(), 1);
}

#[tokio::test]
async fn the_queue_summary_lists_at_most_twenty_inboxes_and_the_open_circuits() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_followers(dir.path(), 60).await;
    let now = Utc::now();
    assert_eq!(store.enqueue_to_followers(&activity("a"), now).await.unwrap(), 30);
    store.record_host_failure("s3.example", now, Some(now + TimeDelta::seconds(60))).await.unwrap();
    // A circuit opening moves the host's pending jobs to its end, attempts untouched.
    assert_eq!(store.defer_host("https://s3.example/", now + TimeDelta::seconds(60), "circuit open").await.unwrap(), 1);

    let status = store.queue_status(now).await.unwrap();
    assert_eq!(status.pending, 30);
    assert_eq!(status.inboxes.len(), 20);
    assert_eq!(status.hosts.len(), 1);
    assert_eq!(status.hosts[0].host, "s3.example");
    let jobs = store.inbox_jobs("https://s3.example/inbox", 10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].attempts, 0);
    assert_eq!(jobs[0].last_error.as_deref(), Some("circuit open"));
    assert!(jobs[0].next_attempt_at > now);
    assert!(store
        .claim_deliveries(now, TimeDelta::seconds(60), 100)
        .await
        .unwrap()
        .iter()
        .all(|j| !j.inbox.contains("s3.")));
}
