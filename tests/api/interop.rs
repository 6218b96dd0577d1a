//! Interop with an independent ActivityPub implementation: a Fedify server
//! (tests/interop/peer.mjs) whose user alice looks herald's account up by
//! WebFinger, follows it, and receives what herald publishes. Whether
//! herald's signatures are valid is Fedify's verdict, not ours.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use reqwest::Method;

use crate::api;
use crate::common::{repo, spawn_reachable_app, tool, TestApp};

struct Peer {
    child: Child,
    _stdin: ChildStdin,
    base: String,
    http: reqwest::Client,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    /// Starts the peer, or `None` (skipped loudly) when Node or its
    /// dependencies are missing outside CI.
    fn start() -> Option<Peer> {
        let node = tool("HERALD_NODE", "node")?;
        let dir = repo().join("tests/interop");
        if !dir.join("node_modules/@fedify/fedify").is_dir() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "tests/interop/node_modules is missing under CI=true: run `npm ci` in tests/interop (bash scripts/test.sh does)"
            );
            eprintln!("\n*** SKIPPING interop: run `npm ci` in tests/interop (bash scripts/test.sh does) ***\n");
            return None;
        }
        let mut child = Command::new(node)
            .arg(dir.join("peer.mjs"))
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("peer did not start: {e}: {line:?}"));
        Some(Peer {
            child,
            _stdin: stdin,
            base: format!("http://127.0.0.1:{}", ready["port"]),
            http: reqwest::Client::new(),
        })
    }

    async fn control(&self, path: &str, body: Value) -> Value {
        let response = self.http.post(format!("{}{path}", self.base)).json(&body).send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "peer {path}: {status}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    async fn list(&self, what: &str) -> Vec<Value> {
        let response = self.http.get(format!("{}/control/{what}", self.base)).send().await.unwrap();
        response.json().await.unwrap()
    }

    /// Waits (at most 30 s) until alice has accepted an activity matching `matches`.
    async fn await_received(&self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        match self.await_verdict(what, |a| matches(a), |_| false).await {
            Ok(found) | Err(found) => found,
        }
    }

    /// Waits (at most 30 s) for Fedify's verdict on an activity: `Ok` with
    /// the `received` entry matching `accepted`, or `Err` with the first
    /// `rejected` entry matching `refused`.
    async fn await_verdict(
        &self,
        what: &str,
        accepted: impl Fn(&Value) -> bool,
        refused: impl Fn(&Value) -> bool,
    ) -> Result<Value, Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(found) = self.list("received").await.into_iter().find(|a| accepted(a)) {
                return Ok(found);
            }
            if let Some(found) = self.list("rejected").await.into_iter().find(|d| refused(d)) {
                return Err(found);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the peer never accepted {what}; received: {:#?}; rejected: {:#?}",
                self.list("received").await,
                self.list("rejected").await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn follower_count(app: &TestApp) -> i64 {
    app.store.follower_count().await.unwrap()
}

async fn await_followers(app: &TestApp, expected: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while follower_count(app).await != expected {
        assert!(tokio::time::Instant::now() < deadline, "followers never reached {expected}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const NEW: &str =
    "+++\nid = \"urn:uuid:1f5c2a8e-6a3b-4d7e-9c1f-2b3a4c5d6e7f\"\nslug = \"interop-breve\"\nkind = \"teaser\"\n\
title = \"Brève d’interopérabilité\"\nsummary = \"Une brève publiée pendant le test Fedify.\"\ntags = [\"interop\"]\n\
published = \"2024-08-10T08:00:00Z\"\n+++\n";

#[tokio::test]
async fn a_fedify_user_follows_herald_and_receives_signed_create_update_delete() {
    let Some(peer) = Peer::start() else { return };
    let app = spawn_reachable_app().await;
    let host = app.address.trim_start_matches("http://").to_owned();

    // Follow, by WebFinger handle: Fedify resolves it, fetches the actor and
    // sends a signed Follow; herald answers with a signed Accept.
    let follow = peer.control("/control/follow", json!({ "handle": format!("acct:news@{host}") })).await;
    assert_eq!(follow["actor"], format!("{}/users/news", app.address));
    let accept = peer.await_received("Accept", |a| a["type"] == "Accept").await;
    assert_eq!(accept["actor"], format!("{}/users/news", app.address));
    assert_eq!(follow_id_of(&accept), follow["follow_id"].as_str().unwrap());
    await_followers(&app, 1).await;

    // A repeated Follow changes nothing.
    assert_eq!(follower_count(&app).await, 1);

    // Publish from another process: a Create(Note) arrives.
    app.write_content("interop-breve.md", NEW);
    publish(&app).await;
    let create = peer.await_received("Create", |a| a["type"] == "Create").await;
    let note = &create["object"];
    assert_eq!(note["type"], "Note");
    let content = serde_json::to_string(note).unwrap();
    assert!(content.contains("Brève d’interopérabilité"), "{note:#}");
    assert!(content.contains("/tags/interop"), "{note:#}");
    assert!(note.get("summary").is_none());

    // Edit: an Update with the new text.
    app.write_content("interop-breve.md", &NEW.replace("pendant le test Fedify", "pendant le test Fedify, corrigée"));
    publish(&app).await;
    let update = peer.await_received("Update", |a| a["type"] == "Update").await;
    assert!(serde_json::to_string(&update["object"]).unwrap().contains("corrigée"), "{update:#}");

    // Retraction: a Delete carrying a Tombstone.
    let retracted = NEW
        .replace("published = \"2024-08-10T08:00:00Z\"", "published = \"2024-08-10T08:00:00Z\"\nstate = \"retracted\"");
    app.write_content("interop-breve.md", &retracted);
    publish(&app).await;
    let delete = peer.await_received("Delete", |a| a["type"] == "Delete").await;
    assert!(serde_json::to_string(&delete).unwrap().contains("Tombstone"), "{delete:#}");

    // Unfollow: herald forgets alice.
    peer.control("/control/unfollow", json!({ "actor": follow["actor"] })).await;
    await_followers(&app, 0).await;

    // Everything herald sent passed Fedify's own signature verification.
    assert_eq!(peer.list("rejected").await, Vec::<Value>::new());
}

#[tokio::test]
async fn a_fedify_follower_receives_create_update_delete_for_changes_made_through_the_api() {
    // Arrange: alice follows; the CMS has a token and has uploaded an image.
    let Some(peer) = Peer::start() else { return };
    let app = spawn_reachable_app().await;
    let host = app.address.trim_start_matches("http://").to_owned();
    peer.control("/control/follow", json!({ "handle": format!("acct:news@{host}") })).await;
    peer.await_received("Accept", |a| a["type"] == "Accept").await;
    await_followers(&app, 1).await;
    let token = api::token(&app, "cms", false).await;
    let image = api::upload(&app, &token, "?path=img/interop.png", "image/png", api::png()).await;
    assert_eq!(image.status, 201, "{:#}", image.body);
    let id = "urn:uuid:5b0c8a3e-2f4d-4e6a-8b1c-9d0e1f2a3b4c";
    let path = "/api/articles/5b0c8a3e-2f4d-4e6a-8b1c-9d0e1f2a3b4c";
    let article = json!({
        "id": id, "slug": "interop-api", "title": "Publié par l’API",
        "summary": "Un article du CMS pendant le test Fedify.", "tags": ["interop"],
        "published": "2024-08-11T08:00:00Z",
        "image": { "url": "img/interop.png", "alt": "Une carte de test" },
        "body": "Le texte de l’article.\n"
    });
    let is_about = |a: &Value, kind: &str| {
        a["type"] == kind && serde_json::to_string(&a["object"]).unwrap_or_default().contains("interop-api")
    };

    // Act and assert: create, edit, retract through the API; each reaches
    // alice, and Fedify accepts its signature.
    let created = api::call(&app, &token, Method::POST, "/api/articles", Some(&article)).await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    let create = peer.await_received("Create from the API", |a| is_about(a, "Create")).await;
    let note = &create["object"];
    assert!(serde_json::to_string(note).unwrap().contains("Publié par l’API"), "{note:#}");
    let attachment = note["attachment"].as_array().cloned().unwrap_or_default();
    let attached = attachment.iter().find(|a| a["type"] == "Image").unwrap_or_else(|| panic!("{note:#}"));
    assert_eq!(attached["url"], image.body["url"], "{note:#}");
    assert_eq!(attached["name"], "Une carte de test");

    let edited =
        api::call(&app, &token, Method::PATCH, path, Some(&json!({"title": "Publié par l’API, corrigé"}))).await;
    assert_eq!(edited.status, 200, "{:#}", edited.body);
    let update = peer.await_received("Update from the API", |a| is_about(a, "Update")).await;
    assert!(serde_json::to_string(&update["object"]).unwrap().contains("corrigé"), "{update:#}");

    let retracted = api::call(&app, &token, Method::DELETE, path, None).await;
    assert_eq!(retracted.status, 200, "{:#}", retracted.body);
    let delete = peer
        .await_received("Delete from the API", |a| {
            a["type"] == "Delete" && serde_json::to_string(&a["object"]).unwrap_or_default().contains("5b0c8a3e")
        })
        .await;
    assert!(serde_json::to_string(&delete).unwrap().contains("Tombstone"), "{delete:#}");
    assert_eq!(peer.list("rejected").await, Vec::<Value>::new());
}

#[tokio::test]
async fn after_a_key_rotation_a_fedify_follower_accepts_the_actor_update_and_the_next_create() {
    // Arrange: alice follows; herald's Accept makes Fedify cache the old key.
    let Some(peer) = Peer::start() else { return };
    let app = spawn_reachable_app().await;
    let actor = format!("{}/users/news", app.address);
    let host = app.address.trim_start_matches("http://").to_owned();
    peer.control("/control/follow", json!({ "handle": format!("acct:news@{host}") })).await;
    let accept = peer.await_received("Accept", |a| a["type"] == "Accept").await;
    await_followers(&app, 1).await;
    let old_pem = served_key(&app).await;
    assert_same_key(&accept, &old_pem, "the Accept, before the rotation");

    // Act: the operator rotates the key with the real CLI.
    let rotate = app.herald(&["key", "rotate"]).await;
    assert!(rotate.status.success(), "{rotate:?}");

    // Assert: the actor serves a new key, and herald told alice with an
    // Update of its actor carrying that key, signed with the retired key
    // that alice's server holds (as every follower's does), so that it is
    // accepted at once, even by servers that refetch actors only daily.
    let new_pem = await_served_key_other_than(&app, &old_pem).await;
    let is_actor_update = |a: &Value| a["raw"]["type"] == "Update" && a["raw"]["object"]["id"] == actor.as_str();
    let update = match peer.await_verdict("an Update of herald's actor", is_actor_update, is_actor_update).await {
        Ok(update) => update,
        Err(refused) => panic!("{}", explain_refused_update(&refused, &old_pem, &new_pem)),
    };
    assert_eq!(update["actor"], actor.as_str(), "{update:#}");
    let sent = &update["raw"]["object"];
    assert_eq!(sent["type"], "Service", "{update:#}");
    assert_eq!(sent["publicKey"]["id"], format!("{actor}#main-key"), "{update:#}");
    assert_eq!(
        sent["publicKey"]["publicKeyPem"],
        new_pem.as_str(),
        "the Update carries a key other than the one served"
    );
    assert_ne!(sent["publicKey"]["publicKeyPem"], old_pem.as_str(), "the Update carries the retired key");
    // As Fedify parsed it, too.
    let parsed_pem = update["object"]["publicKey"]["publicKeyPem"].as_str().unwrap_or_default();
    assert_eq!(normalized(parsed_pem), normalized(&new_pem), "Fedify's reading of the Update: {update:#}");
    assert_same_key(&update, &old_pem, "the Update of the actor");

    // The next post is signed with the new key, and Fedify verifies it with
    // the key the Update carried (or refetched).
    app.write_content("interop-breve.md", NEW);
    publish(&app).await;
    let create = peer
        .await_received("the Create of the new article", |a| {
            a["type"] == "Create" && serde_json::to_string(&a["object"]).unwrap().contains("Brève d’interopérabilité")
        })
        .await;
    assert_same_key(&create, &new_pem, "the Create after the rotation");

    // Once: one Update of the actor reached alice's server, and Fedify
    // refused nothing herald sent.
    let updates = peer
        .list("deliveries")
        .await
        .into_iter()
        .filter(|d| d["activity_type"] == "Update" && d["raw"]["object"]["id"] == actor.as_str())
        .count();
    assert_eq!(updates, 1, "deliveries: {:#?}", peer.list("deliveries").await);
    assert_eq!(peer.list("rejected").await, Vec::<Value>::new());
}

/// The `publicKeyPem` of herald's actor, as served to ActivityPub clients.
async fn served_key(app: &TestApp) -> String {
    let response = app.get_with("/users/news", &[("accept", "application/activity+json")]).await;
    assert_eq!(response.status(), 200);
    let actor: Value = response.json().await.unwrap();
    actor["publicKey"]["publicKeyPem"].as_str().unwrap().to_owned()
}

/// Waits (at most 10 s) for the running server to serve a key other than `old`.
async fn await_served_key_other_than(app: &TestApp, old: &str) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let pem = served_key(app).await;
        if pem != old {
            return pem;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/users/news still serves the old key after `herald key rotate`"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Why Fedify refused the Update of the actor, from its own record of the
/// request: the key it held once it had given up.
fn explain_refused_update(refused: &Value, old_pem: &str, new_pem: &str) -> String {
    let held = normalized(refused["key_pem"].as_str().unwrap_or_default());
    let why = if held == normalized(old_pem) {
        "the signature failed with the cached (old) key, Fedify fetched the keyId again and herald still \
         served the OLD key: herald signed with the new key before /users/news served it"
    } else if held == normalized(new_pem) {
        "Fedify held the new key and the signature still failed: see the signing string in sig_log"
    } else {
        "Fedify could not get a usable key: see sig_log"
    };
    format!(
        "Fedify refused herald's Update of its actor ({} {}): {why}.\nFedify's signature log: {:#}\nThe delivery: {refused:#}",
        refused["status"], refused["response"], refused["sig_log"]
    )
}

/// Asserts that Fedify verified `received` with the key `pem` (see
/// `signature` in tests/interop/README.md).
fn assert_same_key(received: &Value, pem: &str, what: &str) {
    let signature = &received["signature"];
    let verified_with = signature["key_pem"].as_str().unwrap_or_default();
    assert_eq!(
        normalized(verified_with),
        normalized(pem),
        "Fedify did not verify {what} with the expected key; its signature check: {signature:#}"
    );
}

/// A PEM without its line breaks: Fedify re-encodes the keys it parses.
fn normalized(pem: &str) -> String {
    pem.split_whitespace().collect()
}

fn follow_id_of(accept: &Value) -> String {
    let object = &accept["object"];
    object.as_str().map(str::to_owned).or_else(|| object["id"].as_str().map(str::to_owned)).unwrap_or_default()
}

async fn publish(app: &TestApp) {
    let output = app.herald(&["publish"]).await;
    assert!(output.status.success(), "{output:?}");
}
