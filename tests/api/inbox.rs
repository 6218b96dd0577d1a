//! The inbox against a remote actor served by the test (its own key), for
//! the cases a real peer will not produce: bad signatures, bad bodies.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use herald::federation::keys::{self, StoredKey};
use herald::federation::{signature, ACTIVITY_JSON};
use serde_json::{json, Value};
use url::Url;

use crate::common::{spawn_app, TestApp};

/// A remote server with one actor, `mallory`, and an inbox that records what it gets.
struct Remote {
    base: String,
    key: StoredKey,
    received: Arc<Mutex<Vec<Value>>>,
}

impl Remote {
    async fn start() -> Remote {
        Remote::start_on("127.0.0.1").await
    }

    /// A remote whose URLs name `host` (a name for 127.0.0.1), so that two
    /// remotes can be two hosts.
    async fn start_on(host: &str) -> Remote {
        let key = keys::generate().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{host}:{}", listener.local_addr().unwrap().port());
        let received = Arc::new(Mutex::new(Vec::new()));
        let actor = json!({
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": format!("{base}/users/mallory"),
            "type": "Person",
            "preferredUsername": "mallory",
            "inbox": format!("{base}/users/mallory/inbox"),
            "endpoints": { "sharedInbox": format!("{base}/inbox") },
            "publicKey": {
                "id": format!("{base}/users/mallory#main-key"),
                "owner": format!("{base}/users/mallory"),
                "publicKeyPem": key.public_pem,
            }
        });
        let sink = received.clone();
        let router =
            Router::new().route("/users/mallory", get(move || async move { axum::Json(actor.clone()) })).route(
                "/users/mallory/inbox",
                post(move |body: axum::body::Bytes| async move {
                    sink.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                    axum::http::StatusCode::ACCEPTED
                }),
            );
        tokio::spawn(async move { axum::serve(listener, router).await });
        Remote { base, key, received }
    }

    fn actor(&self) -> String {
        format!("{}/users/mallory", self.base)
    }

    /// POSTs `body` to herald's `path`, signed by mallory (or as told).
    async fn post(
        &self,
        app: &TestApp,
        path: &str,
        body: &[u8],
        signed_body: Option<&[u8]>,
        key_id: Option<&str>,
    ) -> u16 {
        let url = Url::parse(&format!("{}{path}", app.address)).unwrap();
        let pair = keys::signing_key(&self.key).unwrap();
        let key_id = key_id.map(str::to_owned).unwrap_or_else(|| format!("{}#main-key", self.actor()));
        let mut request = app.client.post(url.clone()).body(body.to_vec());
        for (name, value) in
            signature::sign(&pair, &key_id, "POST", &url, Some(signed_body.unwrap_or(body)), chrono::Utc::now())
                .unwrap()
        {
            request = request.header(name, value);
        }
        request.send().await.unwrap().status().as_u16()
    }

    fn follow(&self, app: &TestApp, id: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": format!("{}/follows/{id}", self.base),
            "type": "Follow",
            "actor": self.actor(),
            "object": format!("{}/users/news", app_base(app)),
        }))
        .unwrap()
    }

    async fn await_received(&self, kind: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(found) = self.received.lock().unwrap().iter().find(|a| a["type"] == kind).cloned() {
                return found;
            }
            assert!(tokio::time::Instant::now() < deadline, "no {kind} arrived");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn app_base(_app: &TestApp) -> &'static str {
    "https://news.example.org"
}

#[tokio::test]
async fn a_signed_follow_is_stored_once_and_answered_with_an_accept() {
    let app = spawn_app().await;
    let remote = Remote::start().await;
    let follow = remote.follow(&app, "1");

    assert_eq!(remote.post(&app, "/users/news/inbox", &follow, None, None).await, 202);
    assert_eq!(remote.post(&app, "/inbox", &follow, None, None).await, 202);

    assert_eq!(app.store.follower_count().await.unwrap(), 1);
    let accept = remote.await_received("Accept").await;
    assert_eq!(accept["actor"], "https://news.example.org/users/news");
    assert_eq!(accept["object"]["id"], format!("{}/follows/1", remote.base));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(remote.received.lock().unwrap().len(), 1, "one Accept for one Follow id");
}

#[tokio::test]
async fn bad_signatures_and_bodies_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let remote = Remote::start().await;
    let follow = remote.follow(&app, "2");

    // No signature at all.
    let unsigned = app.client.post(format!("{}/inbox", app.address)).body(follow.clone()).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);
    // Signed, then tampered with.
    assert_eq!(remote.post(&app, "/inbox", &follow, Some(b"{}"), None).await, 401);
    // Signed for another path.
    let url = format!("{}/users/news/inbox", app.address);
    let pair = keys::signing_key(&remote.key).unwrap();
    let other = Url::parse(&format!("{}/inbox", app.address)).unwrap();
    let mut request = app.client.post(&url).body(follow.clone());
    for (name, value) in signature::sign(
        &pair,
        &format!("{}#main-key", remote.actor()),
        "POST",
        &other,
        Some(&follow),
        chrono::Utc::now(),
    )
    .unwrap()
    {
        request = request.header(name, value);
    }
    assert_eq!(request.send().await.unwrap().status(), 401);
    // A key on another host than the actor.
    let elsewhere = "http://localhost:9/users/mallory#main-key";
    assert_eq!(remote.post(&app, "/inbox", &follow, None, Some(elsewhere)).await, 401);
    // Another actor's key (herald fetches mallory's key and it does not verify).
    let impostor = Remote { key: keys::generate().unwrap(), ..Remote::start().await };
    let forged = serde_json::to_vec(
        &json!({"id": "x", "type": "Follow", "actor": remote.actor(), "object": "https://news.example.org/users/news"}),
    )
    .unwrap();
    let status = impostor.post(&app, "/inbox", &forged, None, Some(&format!("{}#main-key", remote.actor()))).await;
    assert_eq!(status, 401);
    // Malformed JSON, signed.
    assert_eq!(remote.post(&app, "/inbox", b"{not json", None, None).await, 400);
    // Too large.
    let huge = vec![b' '; 300 * 1024];
    assert_eq!(remote.post(&app, "/inbox", &huge, None, None).await, 413);

    assert_eq!(app.store.follower_count().await.unwrap(), 0);
}

#[tokio::test]
async fn likes_boosts_and_replies_are_counted_and_undo_and_delete_unfollow() {
    let app = spawn_app().await;
    let remote = Remote::start().await;
    let note = "https://news.example.org/notes/86f0943d-b849-48d0-b821-2b97a4c99fe8";
    for (id, activity) in [
        ("like", json!({"type": "Like", "object": note})),
        ("boost", json!({"type": "Announce", "object": note})),
        (
            "reply",
            json!({"type": "Create", "object": {"id": format!("{}/notes/r1", remote.base), "type": "Note", "inReplyTo": note}}),
        ),
        ("other", json!({"type": "Like", "object": "https://elsewhere.example/notes/1"})),
        ("unknown", json!({"type": "Move", "object": remote.actor()})),
    ] {
        let mut activity = activity;
        activity["id"] = json!(format!("{}/activities/{id}", remote.base));
        activity["actor"] = json!(remote.actor());
        assert_eq!(remote.post(&app, "/inbox", &serde_json::to_vec(&activity).unwrap(), None, None).await, 202, "{id}");
    }
    let counts = app.store.interaction_counts("urn:uuid:86f0943d-b849-48d0-b821-2b97a4c99fe8").await.unwrap();
    assert_eq!(counts, [("announce".to_owned(), 1), ("like".to_owned(), 1), ("reply".to_owned(), 1)]);
    let listing = String::from_utf8(app.herald(&["interactions"]).await.stdout).unwrap();
    assert!(listing.contains("      1       1       1  mali-embuscade-tin-zaouatine-wagner-ukraine"), "{listing}");

    let follow = remote.follow(&app, "3");
    assert_eq!(remote.post(&app, "/inbox", &follow, None, None).await, 202);
    assert_eq!(app.store.follower_count().await.unwrap(), 1);
    let follow: Value = serde_json::from_slice(&follow).unwrap();
    let undo =
        json!({"id": format!("{}/undo/3", remote.base), "type": "Undo", "actor": remote.actor(), "object": follow});
    assert_eq!(remote.post(&app, "/inbox", &serde_json::to_vec(&undo).unwrap(), None, None).await, 202);
    assert_eq!(app.store.follower_count().await.unwrap(), 0);

    // A new Follow id: herald ignores an id it has processed already, so
    // resending `follow` would leave nothing for the Delete to remove.
    assert_eq!(remote.post(&app, "/inbox", &remote.follow(&app, "3b"), None, None).await, 202);
    assert_eq!(app.store.follower_count().await.unwrap(), 1);
    let delete = json!({"id": format!("{}/delete", remote.base), "type": "Delete", "actor": remote.actor(), "object": remote.actor()});
    assert_eq!(remote.post(&app, "/inbox", &serde_json::to_vec(&delete).unwrap(), None, None).await, 202);
    assert_eq!(app.store.follower_count().await.unwrap(), 0);
}

#[tokio::test]
async fn the_cli_lists_followers_shows_the_queue_and_rotates_the_key() {
    let app = spawn_app().await;
    let remote = Remote::start().await;
    assert_eq!(remote.post(&app, "/inbox", &remote.follow(&app, "4"), None, None).await, 202);
    remote.await_received("Accept").await;

    let followers = app.herald(&["followers"]).await;
    let out = String::from_utf8_lossy(&followers.stdout);
    assert!(out.contains(&format!("{}\t{}/users/mallory/inbox", remote.actor(), remote.base)), "{out}");
    assert!(out.contains("1 followers on 1 servers"), "{out}");

    // The Accept was delivered; `queue` counts it once the worker has recorded it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let out = String::from_utf8_lossy(&app.herald(&["queue"]).await.stdout).into_owned();
        if out.contains("pending 0, delivered 1, failed 0") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{out}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let before = app.store.actor_key().await.unwrap().unwrap().0;
    let rotate = app.herald(&["key", "rotate"]).await;
    assert!(rotate.status.success(), "{rotate:?}");
    let after = app.store.actor_key().await.unwrap().unwrap().0;
    assert_ne!(before.public_pem, after.public_pem);
    // The running server serves the new key without a restart.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let actor: Value =
            app.get_with("/users/news", &[("accept", "application/activity+json")]).await.json().await.unwrap();
        if actor["publicKey"]["publicKeyPem"] == after.public_pem.as_str() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the actor still shows the old key");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The rotation queued an Update of the actor to mallory's server (its
    // shared inbox, which this test server does not route: 404, given up);
    // `queue --inbox` lists one inbox's jobs.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let shared = format!("{}/inbox", remote.base);
        let out = String::from_utf8_lossy(&app.herald(&["queue", "--inbox", &shared]).await.stdout).into_owned();
        if out.lines().any(|l| l.contains("failed") && l.contains("/users/news#updates/") && l.contains("404")) {
            assert!(out.starts_with(&format!("1 jobs for {shared}")), "{out}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{out}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let personal = format!("{}/users/mallory/inbox", remote.base);
    let out = String::from_utf8_lossy(&app.herald(&["queue", "--inbox", &personal]).await.stdout).into_owned();
    assert!(out.lines().any(|l| l.contains("delivered") && l.contains("#accepts/follows/")), "{out}");
}

// What follows pins the inbox against replays and against mistaken Undos, and
// the collections that count followers, likes, boosts and replies live.

/// The sample article these tests like, boost and reply to.
const SLUG: &str = "mali-embuscade-tin-zaouatine-wagner-ukraine";
const ARTICLE_ID: &str = "urn:uuid:86f0943d-b849-48d0-b821-2b97a4c99fe8";

/// The bound: a follow shows in the followers collection within a second.
const LIVE: Duration = Duration::from_secs(1);
/// No bound was asked for the Note's collections; this only ends a failing test.
const SOON: Duration = Duration::from_secs(5);

/// A signature made by hand, for what `signature::sign` (always
/// `rsa-sha256` over a `Date` header) cannot vary. The signature itself is
/// always RSA-SHA256 over the draft-12 signing string; `algorithm` is only
/// the parameter herald reads.
struct Signing {
    algorithm: &'static str,
    /// A signed `Date` header, if any.
    date: Option<DateTime<Utc>>,
    /// `created=` and a signed `(created)`, if any.
    created: Option<DateTime<Utc>>,
    /// `expires=` and a signed `(expires)`, if any.
    expires: Option<DateTime<Utc>>,
}

impl Signing {
    fn dated(algorithm: &'static str, date: DateTime<Utc>) -> Self {
        Signing { algorithm, date: Some(date), created: None, expires: None }
    }

    /// `hs2019` with `(created)` and `(expires)` and no `Date` header at all,
    /// so only the parameters place the signature in time.
    fn created(created: DateTime<Utc>, expires: DateTime<Utc>) -> Self {
        Signing { algorithm: "hs2019", date: None, created: Some(created), expires: Some(expires) }
    }
}

/// herald's answer to an inbox POST; its body says why a request was refused.
struct Answer {
    status: u16,
    body: String,
}

impl std::fmt::Debug for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.status, self.body.trim_end())
    }
}

impl Remote {
    fn key_id(&self) -> String {
        format!("{}#main-key", self.actor())
    }

    /// The headers herald's own signer makes for `body` to `path`, dated `date`.
    fn signed_at(&self, app: &TestApp, path: &str, body: &[u8], date: DateTime<Utc>) -> Vec<(String, String)> {
        let url = Url::parse(&format!("{}{path}", app.address)).unwrap();
        let pair = keys::signing_key(&self.key).unwrap();
        signature::sign(&pair, &self.key_id(), "POST", &url, Some(body), date)
            .unwrap()
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    }

    /// The headers for `body` to `path`, signed by hand as `signing` says.
    fn signed_with(&self, app: &TestApp, path: &str, body: &[u8], signing: &Signing) -> Vec<(String, String)> {
        let url = Url::parse(&format!("{}{path}", app.address)).unwrap();
        let mut headers = vec![("host".to_owned(), signature::host_header(&url))];
        if let Some(date) = signing.date {
            headers.push(("date".to_owned(), httpdate::fmt_http_date(date.into())));
        }
        headers.push(("digest".to_owned(), signature::digest(body)));
        headers.push(("content-type".to_owned(), ACTIVITY_JSON.to_owned()));

        // draft-cavage-http-signatures-12 §2.3: one `name: value` line per
        // signed header, pseudo-headers carrying their parameter's value.
        let mut names = vec!["(request-target)".to_owned()];
        let mut lines = vec![format!("(request-target): post {}", url.path())];
        let mut params = format!("keyId=\"{}\",algorithm=\"{}\"", self.key_id(), signing.algorithm);
        for (name, at) in [("created", signing.created), ("expires", signing.expires)] {
            if let Some(at) = at {
                names.push(format!("({name})"));
                lines.push(format!("({name}): {}", at.timestamp()));
                params.push_str(&format!(",{name}={}", at.timestamp()));
            }
        }
        for (name, value) in &headers {
            names.push(name.clone());
            lines.push(format!("{name}: {value}"));
        }
        let pair = keys::signing_key(&self.key).unwrap();
        let mut signed = vec![0; pair.public_modulus_len()];
        pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), lines.join("\n").as_bytes(), &mut signed).unwrap();
        headers.push((
            "signature".to_owned(),
            format!("{params},headers=\"{}\",signature=\"{}\"", names.join(" "), STANDARD.encode(&signed)),
        ));
        headers
    }

    /// An activity by mallory with the id `{base}/activities/{name}`.
    fn activity(&self, name: &str, kind: &str, object: Value) -> Value {
        json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": format!("{}/activities/{name}", self.base),
            "type": kind,
            "actor": self.actor(),
            "object": object,
        })
    }

    /// POSTs `activity` to herald's shared inbox, signed now by herald's signer.
    async fn deliver(&self, app: &TestApp, activity: &Value) -> Answer {
        let body = serde_json::to_vec(activity).unwrap();
        send(app, "/inbox", &body, &self.signed_at(app, "/inbox", &body, Utc::now())).await
    }

    /// Follows herald's account and checks that herald took it.
    async fn follow_now(&self, app: &TestApp, id: &str) -> Value {
        let follow = self.follow(app, id);
        let answer = send(app, "/inbox", &follow, &self.signed_at(app, "/inbox", &follow, Utc::now())).await;
        assert_eq!(answer.status, 202, "{answer:?}");
        assert_eq!(app.store.follower_count().await.unwrap(), 1);
        serde_json::from_slice(&follow).unwrap()
    }

    fn accepts_received(&self) -> usize {
        self.received.lock().unwrap().iter().filter(|a| a["type"] == "Accept").count()
    }
}

/// POSTs `body` to herald's `path` with exactly `headers`.
async fn send(app: &TestApp, path: &str, body: &[u8], headers: &[(String, String)]) -> Answer {
    let mut request = app.client.post(format!("{}{path}", app.address)).body(body.to_vec());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = request.send().await.unwrap();
    Answer { status: response.status().as_u16(), body: response.text().await.unwrap() }
}

/// Waits until herald's delivery queue has nothing pending, so that whatever
/// herald queued has been delivered to mallory (or given up).
async fn drain(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = app.store.queue_status(Utc::now()).await.unwrap();
        if status.pending == 0 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the queue never drained: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The sample article's Note id, as herald publishes it.
async fn note_id(app: &TestApp) -> String {
    let response = app.get_with(&format!("/articles/{SLUG}"), &[("accept", ACTIVITY_JSON)]).await;
    assert_eq!(response.status(), 200);
    let note: Value = response.json().await.unwrap();
    note["id"].as_str().unwrap().to_owned()
}

/// herald's path for one of its own URLs.
fn path_of<'a>(app: &TestApp, id: &'a str) -> &'a str {
    id.strip_prefix(app_base(app)).unwrap_or_else(|| panic!("{id} is not on herald"))
}

/// herald's ActivityStreams document at `path`.
async fn document(app: &TestApp, path: &str) -> Value {
    let response = app.get_with(path, &[("accept", ACTIVITY_JSON)]).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.json().await.unwrap()
}

/// Polls the document at `path` until the number at the JSON `pointer` is
/// `expected`, failing once `within` has passed.
async fn await_count(app: &TestApp, path: &str, pointer: &str, expected: i64, within: Duration) {
    let started = tokio::time::Instant::now();
    loop {
        let doc = document(app, path).await;
        if doc.pointer(pointer).and_then(Value::as_i64) == Some(expected) {
            return;
        }
        assert!(
            started.elapsed() < within,
            "{path} {pointer} is not {expected} after {within:?}: {}",
            doc.pointer(pointer).unwrap_or(&Value::Null)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The number of interactions of `kind` ("like", "announce", "reply") with the sample article.
async fn interactions(app: &TestApp, kind: &str) -> i64 {
    let counts = app.store.interaction_counts(ARTICLE_ID).await.unwrap();
    counts.iter().find(|(k, _)| k == kind).map_or(0, |(_, n)| *n)
}

/// Mastodon's `matches_time_window?`: without `(expires)` a signature
/// expires five minutes after its `Date`, with an hour of clock skew on top.
#[tokio::test]
async fn a_follow_signed_two_hours_ago_is_refused_and_never_answered() {
    // Arrange
    let app = spawn_app().await;
    let remote = Remote::start().await;
    let follow = remote.follow(&app, "two-hours-old");
    let headers = remote.signed_at(&app, "/inbox", &follow, Utc::now() - TimeDelta::hours(2));

    // Act
    let answer = send(&app, "/inbox", &follow, &headers).await;

    // Assert
    assert_eq!(answer.status, 401, "{answer:?}");
    drain(&app).await;
    let queue = app.store.queue_status(Utc::now()).await.unwrap();
    assert_eq!((queue.pending, queue.delivered, queue.failed), (0, 0, 0), "nothing may be queued: {queue:?}");
    assert!(remote.received.lock().unwrap().is_empty(), "mallory got {:?}", remote.received.lock().unwrap());
    assert_eq!(app.store.follower_count().await.unwrap(), 0);
}

#[tokio::test]
async fn a_follow_signed_thirty_minutes_ago_is_inside_the_skew_margin() {
    // Arrange
    let app = spawn_app().await;
    let remote = Remote::start().await;
    let follow = remote.follow(&app, "thirty-minutes-old");
    let headers = remote.signed_at(&app, "/inbox", &follow, Utc::now() - TimeDelta::minutes(30));

    // Act
    let answer = send(&app, "/inbox", &follow, &headers).await;

    // Assert
    assert_eq!(answer.status, 202, "{answer:?}");
    assert_eq!(app.store.follower_count().await.unwrap(), 1);
    remote.await_received("Accept").await;
}

#[tokio::test]
async fn a_follow_dated_two_hours_ahead_is_refused() {
    // Arrange
    let app = spawn_app().await;
    let remote = Remote::start().await;
    let follow = remote.follow(&app, "from-the-future");
    let headers = remote.signed_at(&app, "/inbox", &follow, Utc::now() + TimeDelta::hours(2));

    // Act
    let answer = send(&app, "/inbox", &follow, &headers).await;

    // Assert
    assert_eq!(answer.status, 401, "{answer:?}");
    assert_eq!(app.store.follower_count().await.unwrap(), 0);
}

#[tokio::test]
async fn an_expires_in_the_future_is_honoured_for_a_signature_created_two_hours_ago() {
    // Arrange
    let app = spawn_app().await;
    let remote = Remote::start().await;
    let follow = remote.follow(&app, "expires-later");
    let now = Utc::now();
    let signing = Signing::created(now - TimeDelta::hours(2), now + TimeDelta::hours(1));
    let headers = remote.signed_with(&app, "/inbox", &follow, &signing);

    // Act
    let answer = send(&app, "/inbox", &follow, &headers).await;

    // Assert
    assert_eq!(answer.status, 202, "{answer:?}");
    assert_eq!(app.store.follower_count().await.unwrap(), 1);
}

#[tokio::test]
async fn an_expires_is_capped_at_twelve_hours_after_created() {
    // Arrange
    let app = spawn_app().await;
    let remote = Remote::start().await;
    let now = Utc::now();
    let too_long = remote.follow(&app, "thirteen-hours-and-a-half");
    let too_long_headers = remote.signed_with(
        &app,
        "/inbox",
        &too_long,
        &Signing::created(now - TimeDelta::minutes(13 * 60 + 30), now + TimeDelta::hours(1)),
    );
    // Eleven hours of validity, under the cap: shows that the refusal above is the cap's doing.
    let long = remote.follow(&app, "eleven-hours");
    let long_headers = remote.signed_with(
        &app,
        "/inbox",
        &long,
        &Signing::created(now - TimeDelta::hours(10), now + TimeDelta::hours(1)),
    );

    // Act
    let refused = send(&app, "/inbox", &too_long, &too_long_headers).await;
    let followers_after_refusal = app.store.follower_count().await.unwrap();
    let accepted = send(&app, "/inbox", &long, &long_headers).await;

    // Assert
    assert_eq!(refused.status, 401, "{refused:?}");
    assert_eq!(followers_after_refusal, 0);
    assert_eq!(accepted.status, 202, "{accepted:?}");
    assert_eq!(app.store.follower_count().await.unwrap(), 1);
}

#[tokio::test]
async fn rsa_sha256_and_hs2019_are_accepted_and_other_algorithms_are_refused() {
    // Arrange
    let app = spawn_app().await;
    let remote = Remote::start().await;

    for algorithm in ["hmac-sha256", "ecdsa-sha256"] {
        // Act: a valid RSA signature that claims another algorithm.
        let follow = remote.follow(&app, algorithm);
        let headers = remote.signed_with(&app, "/inbox", &follow, &Signing::dated(algorithm, Utc::now()));
        let answer = send(&app, "/inbox", &follow, &headers).await;

        // Assert
        assert_eq!(answer.status, 401, "{algorithm}: {answer:?}");
        assert_eq!(app.store.follower_count().await.unwrap(), 0, "{algorithm}");
    }
    for algorithm in ["rsa-sha256", "hs2019"] {
        // Act
        let follow = remote.follow(&app, algorithm);
        let headers = remote.signed_with(&app, "/inbox", &follow, &Signing::dated(algorithm, Utc::now()));
        let answer = send(&app, "/inbox", &follow, &headers).await;

        // Assert
        assert_eq!(answer.status, 202, "{algorithm}: {answer:?}");
        assert_eq!(app.store.follower_count().await.unwrap(), 1, "{algorithm}");
    }
}

#[tokio::test]
async fn the_same_signed_follow_sent_twice_makes_one_follower_and_one_accept() {
    // Arrange
    let app = spawn_app().await;
    let remote = Remote::start().await;
    let follow = remote.follow(&app, "replayed");
    let headers = remote.signed_at(&app, "/inbox", &follow, Utc::now());

    // Act: the same bytes twice, inside the signature's window.
    let first = send(&app, "/inbox", &follow, &headers).await;
    let replay = send(&app, "/inbox", &follow, &headers).await;

    // Assert
    assert_eq!(first.status, 202, "{first:?}");
    // Answering the replay 202 (as Mastodon does) or refusing it are both
    // fine; acting on it twice is not.
    assert!(matches!(replay.status, 202 | 401), "{replay:?}");
    remote.await_received("Accept").await;
    drain(&app).await;
    assert_eq!(app.store.follower_count().await.unwrap(), 1);
    assert_eq!(remote.accepts_received(), 1, "{:?}", remote.received.lock().unwrap());
}

/// herald used to read any `Undo` whose `object` is a bare id as `Undo(Follow)`.
#[tokio::test]
async fn an_undo_naming_only_a_like_id_removes_the_like_and_keeps_the_follow() {
    // Arrange
    let app = spawn_app().await;
    let remote = Remote::start().await;
    remote.follow_now(&app, "keeps").await;
    let like = remote.activity("like", "Like", json!(note_id(&app).await));
    let answer = remote.deliver(&app, &like).await;
    assert_eq!(answer.status, 202, "{answer:?}");
    assert_eq!(interactions(&app, "like").await, 1);

    // Act
    let undo = remote.activity("undo-like", "Undo", like["id"].clone());
    let answer = remote.deliver(&app, &undo).await;

    // Assert
    assert_eq!(answer.status, 202, "{answer:?}");
    assert_eq!(app.store.follower_count().await.unwrap(), 1, "an Undo(Like) unfollowed");
    assert_eq!(interactions(&app, "like").await, 0);
}

#[tokio::test]
async fn an_undo_of_an_unknown_id_changes_nothing() {
    // Arrange
    let app = spawn_app().await;
    let remote = Remote::start().await;
    remote.follow_now(&app, "stays").await;
    let like = remote.activity("like", "Like", json!(note_id(&app).await));
    assert_eq!(remote.deliver(&app, &like).await.status, 202);

    // Act
    let never_sent = format!("{}/activities/never-sent", remote.base);
    let answer = remote.deliver(&app, &remote.activity("undo-unknown", "Undo", json!(never_sent))).await;

    // Assert
    assert_eq!(answer.status, 202, "{answer:?}");
    assert_eq!(app.store.follower_count().await.unwrap(), 1);
    assert_eq!(interactions(&app, "like").await, 1);
}

#[tokio::test]
async fn an_undo_naming_only_the_follow_id_unfollows() {
    // Arrange
    let app = spawn_app().await;
    let remote = Remote::start().await;
    let follow = remote.follow_now(&app, "by-id").await;

    // Act
    let answer = remote.deliver(&app, &remote.activity("undo-follow", "Undo", follow["id"].clone())).await;

    // Assert
    assert_eq!(answer.status, 202, "{answer:?}");
    assert_eq!(app.store.follower_count().await.unwrap(), 0);
}

#[tokio::test]
async fn the_followers_collection_shows_a_follow_and_its_undo_within_a_second() {
    // Arrange: read the collection first, so a stale cached copy would show.
    let app = spawn_app().await;
    let remote = Remote::start().await;
    let followers = "/users/news/followers";
    assert_eq!(document(&app, followers).await["totalItems"], 0);

    // Act
    let follow = remote.follow_now(&app, "counted").await;

    // Assert
    await_count(&app, followers, "/totalItems", 1, LIVE).await;

    // A conditional GET dated now must not get a 304 for the old count:
    // counted documents carry no Last-Modified, only their ETag.
    let conditional = app
        .get_with(
            followers,
            &[
                ("accept", "application/activity+json"),
                ("if-modified-since", &httpdate::fmt_http_date(std::time::SystemTime::now())),
            ],
        )
        .await;
    assert_eq!(conditional.status(), 200);
    assert!(conditional.headers().get("last-modified").is_none());
    assert_eq!(conditional.headers().get("cache-control").unwrap(), "public, max-age=0");

    // Act
    let answer = remote.deliver(&app, &remote.activity("undo-counted", "Undo", follow)).await;

    // Assert
    assert_eq!(answer.status, 202, "{answer:?}");
    await_count(&app, followers, "/totalItems", 0, LIVE).await;
}

/// Checks the shape of `collection` ("likes", "shares", "replies") in the
/// Note `note_id` and returns its `totalItems`.
async fn note_collection(app: &TestApp, note_id: &str, collection: &str) -> Value {
    let note = document(app, path_of(app, note_id)).await;
    let counted = &note[collection];
    assert_eq!(counted["id"], format!("{note_id}/{collection}"), "{note}");
    assert_eq!(counted["type"], "Collection", "{note}");
    counted["totalItems"].clone()
}

#[tokio::test]
async fn a_like_and_its_undo_move_the_notes_likes_count() {
    // Arrange: read the Note first, so a stale cached copy would show.
    let app = spawn_app().await;
    let remote = Remote::start().await;
    let note = note_id(&app).await;
    assert_eq!(note_collection(&app, &note, "likes").await, 0);

    // Act
    let like = remote.activity("like", "Like", json!(note));
    assert_eq!(remote.deliver(&app, &like).await.status, 202);

    // Assert
    await_count(&app, path_of(&app, &note), "/likes/totalItems", 1, SOON).await;

    // Act: Mastodon's Undo carries the Like inline.
    let mut inline = like.clone();
    inline.as_object_mut().unwrap().remove("@context");
    assert_eq!(remote.deliver(&app, &remote.activity("undo-like", "Undo", inline)).await.status, 202);

    // Assert
    await_count(&app, path_of(&app, &note), "/likes/totalItems", 0, SOON).await;
}

#[tokio::test]
async fn an_announce_and_its_undo_move_the_notes_shares_count() {
    // Arrange
    let app = spawn_app().await;
    let remote = Remote::start().await;
    let note = note_id(&app).await;
    assert_eq!(note_collection(&app, &note, "shares").await, 0);

    // Act
    let announce = remote.activity("boost", "Announce", json!(note));
    assert_eq!(remote.deliver(&app, &announce).await.status, 202);

    // Assert
    await_count(&app, path_of(&app, &note), "/shares/totalItems", 1, SOON).await;

    // Act
    let mut inline = announce.clone();
    inline.as_object_mut().unwrap().remove("@context");
    assert_eq!(remote.deliver(&app, &remote.activity("undo-boost", "Undo", inline)).await.status, 202);

    // Assert
    await_count(&app, path_of(&app, &note), "/shares/totalItems", 0, SOON).await;
}

#[tokio::test]
async fn a_reply_and_its_delete_move_the_notes_replies_count() {
    // Arrange
    let app = spawn_app().await;
    let remote = Remote::start().await;
    let note = note_id(&app).await;
    assert_eq!(note_collection(&app, &note, "replies").await, 0);
    let reply_id = format!("{}/notes/reply", remote.base);

    // Act
    let reply = json!({
        "id": reply_id,
        "type": "Note",
        "attributedTo": remote.actor(),
        "inReplyTo": note,
        "content": "<p>Merci.</p>",
    });
    assert_eq!(remote.deliver(&app, &remote.activity("reply", "Create", reply)).await.status, 202);

    // Assert
    await_count(&app, path_of(&app, &note), "/replies/totalItems", 1, SOON).await;

    // Act: Mastodon deletes a status with a Tombstone of it.
    let tombstone = json!({"id": reply_id, "type": "Tombstone"});
    assert_eq!(remote.deliver(&app, &remote.activity("delete-reply", "Delete", tombstone)).await.status, 202);

    // Assert
    await_count(&app, path_of(&app, &note), "/replies/totalItems", 0, SOON).await;
}

#[tokio::test]
async fn a_like_delivered_twice_with_fresh_signatures_counts_once() {
    // Arrange
    let app = spawn_app().await;
    let remote = Remote::start().await;
    let note = note_id(&app).await;
    let like = serde_json::to_vec(&remote.activity("like-twice", "Like", json!(note))).unwrap();
    // RSA PKCS#1 v1.5 is deterministic: a second apart, the two signatures differ.
    let now = Utc::now();
    let first = remote.signed_at(&app, "/inbox", &like, now - TimeDelta::seconds(1));
    let second = remote.signed_at(&app, "/inbox", &like, now);
    assert_ne!(first, second);

    // Act
    let answers = [send(&app, "/inbox", &like, &first).await, send(&app, "/inbox", &like, &second).await];

    // Assert
    assert!(answers.iter().all(|a| a.status == 202), "{answers:?}");
    assert_eq!(interactions(&app, "like").await, 1);
    await_count(&app, path_of(&app, &note), "/likes/totalItems", 1, SOON).await;
}

/// Misskey's Follow id is `{url}/follows/{follower}/{followee}` and its Undo's
/// `{follow id}/undo`: the same ids every time one account follows another.
/// See misskey-dev/misskey `ApRendererService.renderFollow` and `renderUndo`.
#[tokio::test]
async fn a_follow_that_reuses_its_id_after_an_undo_follows_again() {
    // Arrange
    let app = spawn_app().await;
    let remote = Remote::start().await;
    let follow = remote.follow_now(&app, "misskey").await;
    let mut undone = follow.clone();
    undone.as_object_mut().unwrap().remove("@context");
    let mut undo = remote.activity("unused", "Undo", undone);
    undo["id"] = json!(format!("{}/undo", follow["id"].as_str().unwrap()));
    assert_eq!(remote.deliver(&app, &undo).await.status, 202);
    assert_eq!(app.store.follower_count().await.unwrap(), 0);

    // Act
    let answer = remote.deliver(&app, &follow).await;

    // Assert
    assert_eq!(answer.status, 202, "{answer:?}");
    assert_eq!(app.store.follower_count().await.unwrap(), 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while remote.accepts_received() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the second Follow was never accepted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_activity_id_on_another_host_cannot_void_that_hosts_activity() {
    // Arrange: a server on another host sends an activity under an id in
    // mallory's namespace, before mallory uses it.
    let app = spawn_app().await;
    let mallory = Remote::start().await;
    let other = Remote::start_on("localhost").await;
    let follow = mallory.follow(&app, "next");
    let mut squat = other.activity("squat", "Like", json!("https://elsewhere.example/notes/1"));
    squat["id"] = serde_json::from_slice::<Value>(&follow).unwrap()["id"].clone();
    let squatted = other.deliver(&app, &squat).await;

    // Act
    let answer = send(&app, "/inbox", &follow, &mallory.signed_at(&app, "/inbox", &follow, Utc::now())).await;

    // Assert: refusing the squatter's activity would do as well as ignoring it.
    assert!(matches!(squatted.status, 202 | 400 | 401), "{squatted:?}");
    assert_eq!(answer.status, 202, "{answer:?}");
    assert_eq!(app.store.follower_count().await.unwrap(), 1);
}
