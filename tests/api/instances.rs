//! Several herald processes on one PostgreSQL database: every delivery job
//! is sent exactly once however many instances drain the queue, and what
//! one process changes (a publish, a key rotation, a new follower) every
//! instance serves, through PostgreSQL's notifications — the instances here
//! poll only once a minute, so polling cannot be what makes these pass.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::Path as UrlPath;
use axum::routing::post;
use axum::Router;
use herald::config::Settings;
use herald::store::{RemoteActorRow, Store};

use crate::common::{copy_content, herald_in, loopback_follower, repo, ServeProcess};

const INBOXES: usize = 2000;

/// Polls `path` on `instance` until its body satisfies `condition` (at
/// most 10 s); returns how long that took.
pub async fn await_body(
    instance: &ServeProcess,
    client: &reqwest::Client,
    path: &str,
    condition: impl Fn(&str) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let request = client.get(format!("{}{path}", instance.address)).header("Accept", "application/activity+json");
        let body = request.send().await.unwrap().text().await.unwrap();
        if condition(&body) {
            return start.elapsed();
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{}{path} never changed:\n{body}", instance.address);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// An activity a [`sink`] inbox received: which inbox, its `type`, and
/// its object's id.
#[derive(Debug, Clone)]
pub struct Received {
    pub inbox: usize,
    pub kind: String,
    pub object: String,
}

/// What a [`sink`]'s inboxes received, in order.
pub type Inboxes = Arc<Mutex<Vec<Received>>>;

/// Inboxes on loopback (`{base}/inbox/{n}`) that keep every activity they
/// receive.
pub async fn sink() -> (String, Inboxes) {
    let received: Inboxes = Arc::default();
    let seen = received.clone();
    let router = Router::new().route(
        "/inbox/{n}",
        post(move |UrlPath(inbox): UrlPath<usize>, body: String| {
            let seen = seen.clone();
            async move {
                let activity: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                let object = activity["object"]["id"].as_str().or(activity["object"].as_str()).unwrap_or_default();
                let kind = activity["type"].as_str().unwrap_or_default().to_owned();
                seen.lock().unwrap().push(Received { inbox, kind, object: object.to_owned() });
                axum::http::StatusCode::ACCEPTED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, received)
}

/// How many Creates each inbox of a [`sink`] received.
pub fn creates_per_inbox(received: &Inboxes) -> HashMap<usize, usize> {
    let mut counts = HashMap::new();
    for activity in received.lock().unwrap().iter().filter(|a| a.kind == "Create") {
        *counts.entry(activity.inbox).or_default() += 1;
    }
    counts
}

/// Two `herald serve` processes on one database, with one content
/// directory and configuration, polling once a minute (so that only
/// notifications can tell them of changes), after the sample publication
/// went out and `followers` followed.
pub struct Pair {
    pub dir: tempfile::TempDir,
    pub config: std::path::PathBuf,
    pub store: Store,
    pub client: reqwest::Client,
    pub first: ServeProcess,
    pub second: ServeProcess,
}

impl Pair {
    pub async fn start(database_url: &str, followers: &[RemoteActorRow]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        copy_content(dir.path(), false);
        let ports = [free_port(), free_port()];
        let config = dir.path().join("herald.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nbind = \"127.0.0.1:0\"\nbase_url = \"http://127.0.0.1:{}/\"\npoll_interval_ms = 60000\n\
                 [database]\nurl = \"{database_url}\"\n[content]\ndir = \"{}\"\n\
                 [federation]\nallow_private_addresses = true\n",
                ports[0],
                dir.path().join("feeds").display()
            ),
        )
        .unwrap();
        let settings = Settings::load_with_env(Some(&config), Vec::new()).unwrap();
        let store = Store::connect(&settings.database).await.unwrap();
        // The sample publication goes out before anyone follows.
        let publish = herald_in(dir.path(), &config, &["publish"]);
        assert!(publish.status.success(), "{publish:?}");
        store.import_followers(followers, chrono::Utc::now()).await.unwrap();
        let client = reqwest::Client::new();
        let mut first = ServeProcess::start(dir.path(), &config, ports[0]);
        let mut second = ServeProcess::start(dir.path(), &config, ports[1]);
        first.await_healthy(&client).await;
        second.await_healthy(&client).await;
        Self { dir, config, store, client, first, second }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres_deliver_every_job_exactly_once_and_serve_each_others_changes() {
    let Some(database_url) = crate::pg::fresh_database().await else { return };
    let (sink_base, received) = sink().await;

    // Arrange: two instances that poll once a minute, 2,000 followers each
    // with its own inbox.
    let followers: Vec<RemoteActorRow> = (0..INBOXES).map(|n| loopback_follower(&sink_base, n)).collect();
    let Pair { dir, config, store, client, first, second } = Pair::start(&database_url, &followers).await;

    // Act 1: publish from a third process.
    std::fs::copy(
        repo().join("tests/fixtures/extra/carte-du-nord-du-mali.md"),
        dir.path().join("feeds/carte-du-nord-du-mali.md"),
    )
    .unwrap();
    let publish = herald_in(dir.path(), &config, &["publish"]);
    assert!(publish.status.success(), "{publish:?}");

    // Assert: both serve it, and every inbox receives the Create once.
    let has_article = |body: &str| body.contains("carte-du-nord-du-mali");
    let seen = [
        await_body(&first, &client, "/feed.atom", has_article).await,
        await_body(&second, &client, "/feed.atom", has_article).await,
    ];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let status = store.queue_status(chrono::Utc::now()).await.unwrap();
        if status.pending == 0 {
            assert_eq!((status.delivered, status.failed), (i64::try_from(INBOXES).unwrap(), 0));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {} pending", status.pending);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    {
        let counts = creates_per_inbox(&received);
        assert_eq!(counts.len(), INBOXES, "inboxes reached");
        let twice: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
        assert!(twice.is_empty(), "inboxes that did not receive the Create exactly once: {twice:?}");
    }

    // Act 2 and assert: a key rotation from a third process is served by both.
    let old_key = store.actor_key().await.unwrap().unwrap().0.public_pem;
    let rotate = herald_in(dir.path(), &config, &["key", "rotate"]);
    assert!(rotate.status.success(), "{rotate:?}");
    let new_key = store.actor_key().await.unwrap().unwrap().0.public_pem;
    assert_ne!(old_key, new_key);
    let shows_new_key = |body: &str| body.contains(&new_key.replace('\n', "\\n"));
    let rotated = [
        await_body(&first, &client, "/users/news", shows_new_key).await,
        await_body(&second, &client, "/users/news", shows_new_key).await,
    ];

    // Act 3 and assert: a follower recorded elsewhere shows on both at once.
    let before = format!("\"totalItems\":{INBOXES}");
    await_body(&second, &client, "/users/news/followers", |b| b.contains(&before)).await;
    let follower = RemoteActorRow {
        id: format!("{sink_base}/users/new"),
        inbox: format!("{sink_base}/inbox/{INBOXES}"),
        ..followers[0].clone()
    };
    let accept = herald::store::Outgoing::new(
        format!("{sink_base}/accept/1"),
        "Accept",
        None,
        "{\"type\":\"Accept\"}".to_owned(),
    );
    store.add_follower(&follower, &format!("{sink_base}/follows/1"), &accept, chrono::Utc::now()).await.unwrap();
    let total = format!("\"totalItems\":{}", INBOXES + 1);
    let followed = [
        await_body(&first, &client, "/users/news/followers", |b| b.contains(&total)).await,
        await_body(&second, &client, "/users/news/followers", |b| b.contains(&total)).await,
    ];
    eprintln!(
        "two instances: publish served after {seen:?}, key rotation after {rotated:?}, follower after {followed:?}"
    );
    store.close().await;
}

#[tokio::test]
async fn instances_starting_at_once_migrate_the_database_once() {
    let Some(database_url) = crate::pg::fresh_database().await else { return };
    let settings = herald::config::DatabaseSettings {
        url: database_url,
        data_dir: std::path::PathBuf::from("unused"),
        max_connections: 2,
    };
    let (a, b, c) = tokio::join!(Store::connect(&settings), Store::connect(&settings), Store::connect(&settings));
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    let mut conn = crate::pg::connect(&settings.url).await;
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(&mut conn).await.unwrap();
    let migrations = std::fs::read_dir(repo().join("migrations/postgres")).unwrap().count();
    assert_eq!(applied, i64::try_from(migrations).unwrap());
    assert_eq!(a.site_state().await.unwrap().revision, 0);
    for store in [a, b, c] {
        store.close().await;
    }
}
