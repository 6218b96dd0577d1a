//! herald's WebSub hub, black box: subscription requests over HTTP to
//! `/websub`, intent verification against a subscriber stub on loopback,
//! distributions after a real `herald publish`, and an independent
//! subscriber (flask-websub, Python) for interop.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use herald::store::DeliveryState;

use crate::common::{repo, spawn_app, spawn_instance, spawn_with, tool, Setup, TestApp, BASE_URL};

const ARTICLE: &str = "mali-embuscade-tin-zaouatine-wagner-ukraine.md";

fn topic() -> String {
    format!("{BASE_URL}feed.atom")
}

/// What a subscriber stub answers to verifications.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Echo {
    /// The challenge, as the spec asks.
    Challenge,
    /// Something else: the subscriber did not ask for this.
    Wrong,
}

/// A received distribution.
#[derive(Debug, Clone)]
struct Post {
    callback: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Default)]
struct Seen {
    verifications: Vec<(String, HashMap<String, String>)>,
    posts: Vec<Post>,
}

struct StubState {
    echo: Echo,
    seen: Mutex<Seen>,
    /// Statuses for the next POSTs (200 when empty).
    statuses: Mutex<VecDeque<u16>>,
}

/// A subscriber written for these tests: answers verifications at
/// `/cb/{name}` (echoing the challenge or not) and records distributions.
struct Stub {
    base: String,
    state: Arc<StubState>,
}

impl Stub {
    async fn start(echo: Echo) -> Stub {
        let state = Arc::new(StubState { echo, seen: Mutex::default(), statuses: Mutex::default() });
        let router = Router::new().route("/cb/{name}", get(verify).post(receive)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Stub { base, state }
    }

    fn callback(&self, name: &str) -> String {
        format!("{}/cb/{name}", self.base)
    }

    fn answer_next(&self, statuses: &[u16]) {
        self.state.statuses.lock().unwrap().extend(statuses);
    }

    fn verifications(&self) -> Vec<(String, HashMap<String, String>)> {
        self.state.seen.lock().unwrap().verifications.clone()
    }

    fn posts_to(&self, callback: &str) -> Vec<Post> {
        self.state.seen.lock().unwrap().posts.iter().filter(|p| p.callback == callback).cloned().collect()
    }

    /// Waits (at most 15 s) until `condition` holds on what the stub saw.
    async fn await_seen(&self, what: &str, condition: impl Fn(&Seen) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while !condition(&self.state.seen.lock().unwrap()) {
            assert!(tokio::time::Instant::now() < deadline, "the stub never saw {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn verify(
    State(stub): State<Arc<StubState>>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> (StatusCode, String) {
    let challenge = query.get("hub.challenge").cloned().unwrap_or_default();
    stub.seen.lock().unwrap().verifications.push((name, query));
    match stub.echo {
        Echo::Challenge => (StatusCode::OK, challenge),
        Echo::Wrong => (StatusCode::OK, "yes please".to_owned()),
    }
}

async fn receive(
    State(stub): State<Arc<StubState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let status = stub.statuses.lock().unwrap().pop_front().unwrap_or(200);
    stub.seen.lock().unwrap().posts.push(Post { callback: name, headers, body });
    StatusCode::from_u16(status).unwrap()
}

/// POSTs a subscription request form to the app's hub.
async fn hub_request(app: &TestApp, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    let response = app
        .client
        .post(format!("{}/websub", app.address))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    (status, response.text().await.unwrap())
}

async fn subscribe(app: &TestApp, callback: &str, extra: &[(&str, &str)]) {
    let topic = topic();
    let mut fields = vec![("hub.mode", "subscribe"), ("hub.topic", topic.as_str()), ("hub.callback", callback)];
    fields.extend_from_slice(extra);
    let (status, body) = hub_request(app, &fields).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

/// An app with one verified subscriber at the stub's callback `name`
/// (`extra` fields in its request) that answers its next distributions
/// with `answers`.
async fn app_with_subscriber(name: &str, extra: &[(&str, &str)], answers: &[u16]) -> (TestApp, Stub, String) {
    let app = spawn_app().await;
    let stub = Stub::start(Echo::Challenge).await;
    let callback = stub.callback(name);
    subscribe(&app, &callback, extra).await;
    await_subscribed(&app, &callback).await;
    stub.answer_next(answers);
    (app, stub, callback)
}

/// Waits until `callback` has a subscription to the topic (at most 15 s).
async fn await_subscribed(app: &TestApp, callback: &str) -> herald::store::Subscription {
    await_subscribed_at(app, &topic(), callback).await
}

/// Waits until `callback` has a subscription to `topic` (at most 15 s).
async fn await_subscribed_at(app: &TestApp, topic: &str, callback: &str) -> herald::store::Subscription {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(subscription) = app.store.websub_subscription(topic, callback).await.unwrap() {
            return subscription;
        }
        assert!(tokio::time::Instant::now() < deadline, "{callback} was never subscribed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Edits the sample article's title (`mark` makes it unique) and runs
/// `herald publish` in another process, as a newsroom would.
async fn publish_edit(app: &TestApp, mark: &str) {
    let text = app.read_content(ARTICLE);
    let start = text.find("title = \"").unwrap() + "title = \"".len();
    let edited = format!("{}{mark} {}", &text[..start], &text[start..]);
    app.write_content(ARTICLE, &edited);
    let output = app.herald(&["publish"]).await;
    assert!(output.status.success(), "{output:?}");
}

#[tokio::test]
async fn a_topic_herald_does_not_serve_is_refused() {
    let app = spawn_app().await;
    let stub = Stub::start(Echo::Challenge).await;
    for topic in [format!("{BASE_URL}nothing-here.atom"), "https://elsewhere.example/feed.atom".to_owned()] {
        let callback = stub.callback("a");
        let (status, body) = hub_request(
            &app,
            &[("hub.mode", "subscribe"), ("hub.topic", topic.as_str()), ("hub.callback", callback.as_str())],
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{topic}: {body}");
        assert!(body.starts_with("hub.topic: "), "{body}");
    }
    assert!(stub.verifications().is_empty());
}

#[tokio::test]
async fn bad_requests_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let topic = topic();
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[("hub.topic", topic.as_str()), ("hub.callback", "http://127.0.0.1:9/cb")], "hub.mode: "),
        (&[("hub.mode", "subscribe"), ("hub.topic", topic.as_str()), ("hub.callback", "/relative")], "hub.callback: "),
        (
            &[("hub.mode", "subscribe"), ("hub.topic", topic.as_str()), ("hub.callback", "mailto:a@b.example")],
            "hub.callback: ",
        ),
        (&[("hub.mode", "subscribe"), ("hub.topic", topic.as_str())], "hub.callback: missing"),
        (
            &[
                ("hub.mode", "subscribe"),
                ("hub.topic", topic.as_str()),
                ("hub.callback", "http://127.0.0.1:9/cb"),
                ("hub.lease_seconds", "soon"),
            ],
            "hub.lease_seconds: ",
        ),
    ];
    for (fields, expected) in cases {
        let (status, body) = hub_request(&app, fields).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{fields:?}: {body}");
        assert!(body.starts_with(expected), "{fields:?}: {body}");
    }
    let secret = "s".repeat(200);
    let (status, body) = hub_request(
        &app,
        &[
            ("hub.mode", "subscribe"),
            ("hub.topic", topic.as_str()),
            ("hub.callback", "http://127.0.0.1:9/cb"),
            ("hub.secret", secret.as_str()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.starts_with("hub.secret: 200 bytes"), "{body}");
    let response =
        app.client.post(format!("{}/websub", app.address)).json(&serde_json::json!({})).send().await.unwrap();
    assert_eq!(response.status(), 415);
}

#[tokio::test]
async fn a_subscriber_that_does_not_echo_the_challenge_is_not_stored() {
    // Arrange: one subscriber that answers anything but the challenge, and
    // one that echoes it, asked after the first.
    let app = spawn_app().await;
    let wrong = Stub::start(Echo::Wrong).await;
    let right = Stub::start(Echo::Challenge).await;

    // Act
    subscribe(&app, &wrong.callback("w"), &[("hub.secret", "s")]).await;
    wrong.await_seen("a verification", |seen| !seen.verifications.is_empty()).await;
    subscribe(&app, &right.callback("r"), &[]).await;
    await_subscribed(&app, &right.callback("r")).await;
    publish_edit(&app, "[echo]").await;
    right.await_seen("a distribution", |seen| !seen.posts.is_empty()).await;

    // Assert: the verification asked properly, and nothing was stored or
    // sent for the subscriber that did not confirm.
    let (_, query) = &wrong.verifications()[0];
    assert_eq!(query["hub.mode"], "subscribe");
    assert_eq!(query["hub.topic"], topic());
    assert_eq!(query["hub.challenge"].len(), 64);
    assert!(query.contains_key("hub.lease_seconds"));
    assert_eq!(app.store.websub_subscription(&topic(), &wrong.callback("w")).await.unwrap(), None);
    assert!(app.store.inbox_jobs(&wrong.callback("w"), 10).await.unwrap().is_empty());
    assert!(wrong.posts_to("w").is_empty());
}

#[tokio::test]
async fn leases_are_clamped_and_the_subscriber_told_the_granted_value() {
    let app = spawn_app().await;
    let stub = Stub::start(Echo::Challenge).await;
    let settings = herald::config::Settings::load_with_env(None, Vec::new()).unwrap().websub;

    subscribe(&app, &stub.callback("short"), &[("hub.lease_seconds", "1")]).await;
    subscribe(&app, &stub.callback("long"), &[("hub.lease_seconds", "999999999")]).await;
    subscribe(&app, &stub.callback("default"), &[]).await;

    for (name, expected) in [
        ("short", settings.min_lease_seconds),
        ("long", settings.max_lease_seconds),
        ("default", settings.lease_seconds),
    ] {
        let subscription = await_subscribed(&app, &stub.callback(name)).await;
        assert_eq!(subscription.lease_seconds, expected, "{name}");
        let told: Vec<String> = stub
            .verifications()
            .into_iter()
            .filter(|(n, _)| n == name)
            .map(|(_, q)| q["hub.lease_seconds"].clone())
            .collect();
        assert_eq!(told, vec![expected.to_string()], "{name}");
        let lease = subscription.expires_at - chrono::Utc::now();
        assert!(lease <= chrono::TimeDelta::seconds(expected) && lease > chrono::TimeDelta::seconds(expected - 60));
    }
}

#[tokio::test]
async fn a_publish_is_distributed_signed_and_retried_after_a_500() {
    // Arrange: a subscriber with a secret, whose first answer is a 500.
    let (app, stub, callback) = app_with_subscriber("s", &[("hub.secret", "the secret")], &[500]).await;

    // Act
    publish_edit(&app, "[retry]").await;
    stub.await_seen("a first attempt", |seen| !seen.posts.is_empty()).await;
    await_job(&app, &callback, |j| j.attempts == 1 && j.state == DeliveryState::Pending).await;
    // Its backoff is 16 s or more: make it due now, as `herald queue --retry-now` does.
    app.store.retry_all_now(chrono::Utc::now()).await.unwrap();
    stub.await_seen("a retry", |seen| seen.posts.len() >= 2).await;

    // Assert: the same signed content twice, the second one delivered.
    let posts = stub.posts_to("s");
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].body, posts[1].body);
    let post = &posts[1];
    let body = std::str::from_utf8(&post.body).unwrap();
    assert!(body.contains("[retry] Mali"), "{body}");
    assert_eq!(post.headers["content-type"], "application/atom+xml; charset=utf-8");
    assert_eq!(post.headers["link"], format!("<{BASE_URL}websub>; rel=\"hub\", <{}>; rel=\"self\"", topic()).as_str());
    assert_eq!(post.headers["x-hub-signature"], herald::websub::signature("the secret", &post.body).as_str());
    assert_eq!(body, app.get_feed("atom").await, "the distribution is the feed as served");
    await_job(&app, &callback, |j| j.state == DeliveryState::Delivered && j.attempts == 2).await;
}

/// Waits (at most 10 s) until `callback` has a job matching `done`.
async fn await_job(
    app: &TestApp,
    callback: &str,
    done: impl Fn(&herald::store::JobRow) -> bool,
) -> herald::store::JobRow {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let jobs = app.store.inbox_jobs(callback, 10).await.unwrap();
        if let Some(job) = jobs.iter().find(|j| done(j)) {
            return job.clone();
        }
        assert!(tokio::time::Instant::now() < deadline, "{callback}: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_pending_distribution_whose_subscription_ended_is_settled_unsent() {
    // Arrange: a distribution waiting for its retry after a 500.
    let (app, stub, callback) = app_with_subscriber("s", &[], &[500]).await;
    publish_edit(&app, "[ended]").await;
    await_job(&app, &callback, |j| j.attempts == 1 && j.state == DeliveryState::Pending).await;

    // Act: the subscription ends, then the retry comes due.
    assert!(app.store.websub_unsubscribe(&topic(), &callback).await.unwrap());
    app.store.retry_all_now(chrono::Utc::now()).await.unwrap();

    // Assert: settled without a second request.
    let job = await_job(&app, &callback, |j| j.state == DeliveryState::Failed).await;
    assert_eq!(job.last_error.as_deref(), Some("unsubscribed"));
    assert_eq!(stub.posts_to("s").len(), 1);
}

#[tokio::test]
async fn a_callback_answering_410_is_unsubscribed() {
    let (app, _stub, callback) = app_with_subscriber("gone", &[], &[410]).await;

    publish_edit(&app, "[gone]").await;

    let job = await_job(&app, &callback, |j| j.state == DeliveryState::Failed).await;
    assert_eq!(job.last_status, Some(410));
    assert_eq!(app.store.websub_subscription(&topic(), &callback).await.unwrap(), None);
}

/// Two instances on one PostgreSQL database both notice each publish; the
/// subscriber gets each change once. (The compare-and-set that makes it so
/// is pinned without timing by the store test
/// `a_changed_topic_is_distributed_once_by_two_instances`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_distribute_each_change_once() {
    // Arrange
    let Some(database_url) = crate::pg::fresh_database().await else { return };
    let a = spawn_instance(&database_url, BASE_URL).await;
    let b = spawn_instance(&database_url, BASE_URL).await;
    let stub = Stub::start(Echo::Challenge).await;
    let callback = stub.callback("once");
    subscribe(&b, &callback, &[]).await;
    await_subscribed(&a, &callback).await;

    // Act: two publishes through instance A's configuration.
    for (n, mark) in ["[first]", "[second]"].into_iter().enumerate() {
        publish_edit(&a, mark).await;
        for instance in [&a, &b] {
            instance.await_body("/feed.atom", |body| body.contains(mark)).await;
        }
        stub.await_seen("the distribution", |seen| seen.posts.len() > n).await;
    }
    // Both instances' passes over the second change end within moments of
    // their rebuild: give the slower one that long to (wrongly) queue more.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Assert
    let posts = stub.posts_to("once");
    assert_eq!(posts.len(), 2, "{posts:?}");
    assert!(std::str::from_utf8(&posts[1].body).unwrap().contains("[second] [first] Mali"));
    assert_eq!(a.store.inbox_jobs(&callback, 10).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_change_made_while_herald_was_down_is_distributed_at_start() {
    // Arrange: a subscriber of a server that then stops.
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", dir.path().join("herald.db").display());
    let setup = Setup { database_url: Some(database_url), ..Setup::default() };
    let stub = Stub::start(Echo::Challenge).await;
    let callback = stub.callback("back");
    let first = spawn_with(setup.clone()).await;
    subscribe(&first, &callback, &[]).await;
    await_subscribed(&first, &callback).await;
    let address = first.address.clone();
    drop(first);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while reqwest::get(format!("{address}/healthz")).await.is_ok() {
        assert!(tokio::time::Instant::now() < deadline, "the first server never stopped");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Act: the next start publishes a new article (the image fixture)
    // before it serves, as a publish made while it was down.
    let _second = spawn_with(Setup { extra: true, ..setup }).await;

    // Assert
    stub.await_seen("the distribution", |seen| !seen.posts.is_empty()).await;
    let body = String::from_utf8(stub.posts_to("back")[0].body.to_vec()).unwrap();
    assert!(body.contains("carte-du-nord-du-mali"), "{body}");
}

#[tokio::test]
async fn external_hubs_are_pinged_when_the_main_feeds_change() {
    // Arrange: an external hub (a stub) in the configuration.
    let stub = Stub::start(Echo::Challenge).await;
    let hub = stub.callback("hub");
    let app = spawn_with(Setup { env: vec![("HERALD_WEBSUB__HUBS".into(), hub.clone())], ..Setup::default() }).await;
    // At the first start the main feeds have never been announced.
    stub.await_seen("the first pings", |seen| seen.posts.len() >= 3).await;

    // Act
    publish_edit(&app, "[ping]").await;

    // Assert: one ping per main feed per change, as a form.
    stub.await_seen("the pings of the publish", |seen| seen.posts.len() >= 6).await;
    let posts = stub.posts_to("hub");
    let mut urls: Vec<String> = posts[3..]
        .iter()
        .map(|post| {
            assert_eq!(post.headers["content-type"], "application/x-www-form-urlencoded");
            let fields: HashMap<String, String> = url::form_urlencoded::parse(&post.body).into_owned().collect();
            assert_eq!(fields["hub.mode"], "publish");
            fields["hub.url"].clone()
        })
        .collect();
    urls.sort();
    assert_eq!(urls, ["feed.atom", "feed.json", "feed.rss"].map(|f| format!("{BASE_URL}{f}")));
}

#[tokio::test]
async fn an_unsubscribed_callback_gets_no_further_distribution() {
    // Arrange: two subscribers; the second stays subscribed, so its
    // distribution shows when the change was queued for everyone.
    let app = spawn_app().await;
    let stub = Stub::start(Echo::Challenge).await;
    let (leaving, staying) = (stub.callback("leaving"), stub.callback("staying"));
    subscribe(&app, &leaving, &[]).await;
    subscribe(&app, &staying, &[]).await;
    await_subscribed(&app, &leaving).await;
    await_subscribed(&app, &staying).await;

    // Act
    let (status, body) = hub_request(
        &app,
        &[("hub.mode", "unsubscribe"), ("hub.topic", topic().as_str()), ("hub.callback", leaving.as_str())],
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while app.store.websub_subscription(&topic(), &leaving).await.unwrap().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "never unsubscribed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    publish_edit(&app, "[after]").await;
    stub.await_seen("the distribution", |seen| seen.posts.iter().any(|p| p.callback == "staying")).await;

    // Assert
    let verifications = stub.verifications();
    let modes: Vec<&str> =
        verifications.iter().filter(|(n, _)| n == "leaving").map(|(_, q)| q["hub.mode"].as_str()).collect();
    assert_eq!(modes, vec!["subscribe", "unsubscribe"]);
    assert!(app.store.inbox_jobs(&leaving, 10).await.unwrap().is_empty());
    assert!(stub.posts_to("leaving").is_empty());
}

/// `tests/tools/websub_subscriber.py` running, and the JSON lines it reports.
struct FlaskSubscriber {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    events: tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
}

impl FlaskSubscriber {
    fn start(python: &std::path::Path, hub: &str, topic: &str, secret: &str) -> Self {
        let mut child = Command::new(python)
            .arg(repo().join("tests/tools/websub_subscriber.py"))
            .args([hub, topic, secret])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, events) = tokio::sync::mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                match serde_json::from_str::<serde_json::Value>(&line) {
                    Ok(event) => {
                        let _ = sender.send(event);
                    }
                    Err(_) => eprintln!("subscriber: {line}"),
                }
            }
        });
        Self { child, stdin, events }
    }

    /// The next event (at most 20 s); `None` when flask-websub is missing
    /// and the test may be skipped. Any other silence fails the test.
    async fn next(&mut self, what: &str) -> Option<serde_json::Value> {
        if let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(20), self.events.recv()).await {
            return Some(event);
        }
        let _ = self.child.kill();
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
        }
        if status.code() == Some(2) && std::env::var("CI").as_deref() != Ok("true") {
            eprintln!("\n*** SKIPPING: {} ***\n", stderr.trim());
            return None;
        }
        panic!("the subscriber never reported {what} ({status}); its stderr:\n{stderr}");
    }

    async fn expect(&mut self, what: &str, event: &str, mode: Option<&str>) -> serde_json::Value {
        let got = self.next(what).await.unwrap_or_else(|| panic!("the subscriber stopped before {what}"));
        assert_eq!(got["event"], event, "{what}: {got}");
        if let Some(mode) = mode {
            assert_eq!(got["mode"], mode, "{what}: {got}");
        }
        got
    }

    fn command(&mut self, line: &str) {
        use std::io::Write as _;
        writeln!(self.stdin, "{line}").unwrap();
    }
}

/// The interop test: flask-websub, an independent subscriber, subscribes
/// through herald's hub with a secret, receives a distribution whose
/// signature it checks itself, then unsubscribes and gets nothing more.
#[tokio::test]
async fn flask_websub_subscribes_receives_a_signed_distribution_and_unsubscribes() {
    let Some(python) = tool("HERALD_PYTHON", "python3") else { return };
    let app = crate::common::spawn_reachable_app().await;
    let base = format!("{}/", app.address);
    let (hub, topic) = (format!("{base}websub"), format!("{base}feed.atom"));
    let mut subscriber = FlaskSubscriber::start(&python, &hub, &topic, "an interop secret");

    // Subscribe.
    let Some(listening) = subscriber.next("that it listens").await else { return };
    assert_eq!(listening["event"], "listening", "{listening}");
    let requested = subscriber.expect("its request", "requested", Some("subscribe")).await;
    subscriber.expect("the verification", "verified", Some("subscribe")).await;
    let callback =
        format!("http://127.0.0.1:{}/callbacks/{}", listening["port"], requested["callback_id"].as_str().unwrap());
    let subscription = await_subscribed_at(&app, &topic, &callback).await;
    assert_eq!(subscription.secret.as_deref(), Some("an interop secret"));

    // A publish reaches it, signed (flask-websub drops a bad signature).
    publish_edit(&app, "[interop]").await;
    let distribution = subscriber.expect("a distribution", "distribution", None).await;
    assert_eq!(distribution["signed"], true);
    assert_eq!(distribution["topic"], topic.as_str());
    let body = distribution["body"].as_str().unwrap();
    assert!(body.contains("[interop] Mali"), "{body}");

    // Unsubscribe.
    subscriber.command("unsubscribe");
    subscriber.expect("its unsubscription request", "requested", Some("unsubscribe")).await;
    subscriber.expect("the unsubscription", "verified", Some("unsubscribe")).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while app.store.websub_subscription(&topic, &callback).await.unwrap().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "never unsubscribed in the store");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let jobs_before = app.store.inbox_jobs(&callback, 100).await.unwrap().len();

    // A publish after it: a sentinel subscriber shows when it was
    // distributed; nothing was queued or sent to the flask subscriber.
    let stub = Stub::start(Echo::Challenge).await;
    let sentinel = stub.callback("sentinel");
    let fields = [("hub.mode", "subscribe"), ("hub.topic", topic.as_str()), ("hub.callback", sentinel.as_str())];
    assert_eq!(hub_request(&app, &fields).await.0, StatusCode::ACCEPTED);
    await_subscribed_at(&app, &topic, &sentinel).await;
    publish_edit(&app, "[gone]").await;
    stub.await_seen("the sentinel's distribution", |seen| !seen.posts.is_empty()).await;
    assert_eq!(app.store.inbox_jobs(&callback, 100).await.unwrap().len(), jobs_before);
    subscriber.command("quit");
    while let Ok(Some(event)) = tokio::time::timeout(Duration::from_secs(2), subscriber.events.recv()).await {
        assert_ne!(event["event"], "distribution", "a distribution after the unsubscription: {event}");
    }
    let _ = subscriber.child.wait();
}
