//! The inbox against a remote actor served by the test (its own key), for
//! the cases a real peer will not produce: bad signatures, bad bodies.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use herald::federation::keys::{self, StoredKey};
use herald::federation::signature;
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
        let key = keys::generate().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
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
    let listing = String::from_utf8(app.herald(&["interactions"]).stdout).unwrap();
    assert!(listing.contains("      1       1       1  mali-embuscade-tin-zaouatine-wagner-ukraine"), "{listing}");

    let follow = remote.follow(&app, "3");
    assert_eq!(remote.post(&app, "/inbox", &follow, None, None).await, 202);
    assert_eq!(app.store.follower_count().await.unwrap(), 1);
    let follow: Value = serde_json::from_slice(&follow).unwrap();
    let undo =
        json!({"id": format!("{}/undo/3", remote.base), "type": "Undo", "actor": remote.actor(), "object": follow});
    assert_eq!(remote.post(&app, "/inbox", &serde_json::to_vec(&undo).unwrap(), None, None).await, 202);
    assert_eq!(app.store.follower_count().await.unwrap(), 0);

    assert_eq!(remote.post(&app, "/inbox", &serde_json::to_vec(&follow).unwrap(), None, None).await, 202);
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

    let followers = app.herald(&["followers"]);
    let out = String::from_utf8_lossy(&followers.stdout);
    assert!(out.contains(&format!("{}\t{}/users/mallory/inbox", remote.actor(), remote.base)), "{out}");
    assert!(out.contains("1 followers on 1 servers"), "{out}");

    // The Accept was delivered; `queue` counts it once the worker has recorded it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let out = String::from_utf8_lossy(&app.herald(&["queue"]).stdout).into_owned();
        if out.contains("pending 0, delivered 1, failed 0") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{out}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let before = app.store.actor_key().await.unwrap().unwrap().0;
    let rotate = app.herald(&["key", "rotate"]);
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
}
