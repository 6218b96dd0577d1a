//! Interop with a second independent ActivityPub implementation: bob, an
//! actor written on `activitypub_federation` (Lemmy's library) the way its
//! `examples/local_federation` is. bob finds herald's account by WebFinger,
//! follows it, likes, boosts and answers a Note, and takes it all back.
//! Whether herald's signatures and documents are valid is the crate's
//! verdict (its signature verification and bob's typed structs), not ours.

mod activities;
mod instance;
mod note;
mod person;

use std::future::Future;
use std::time::Duration;

use activitypub_federation::fetch::webfinger::webfinger_resolve_actor;
use activitypub_federation::kinds::public;
use activitypub_federation::traits::{Actor, Object};
use reqwest::Method;
use serde_json::{json, Value};
use url::Url;

use self::activities::accept::Accept;
use self::activities::announce::Announce;
use self::activities::create::Create;
use self::activities::delete::Delete;
use self::activities::follow::Follow;
use self::activities::like::Like;
use self::activities::undo::Undo;
use self::activities::update::Update;
use self::activities::update_actor::UpdateActor;
use self::activities::Inbound;
use self::instance::{Peer, PATIENCE};
use self::note::Note;
use self::person::DbUser;
use crate::api;
use crate::common::{spawn_reachable_app_at, TestApp};

const ARTICLE_ID: &str = "urn:uuid:5d0c6f3e-2a41-4b8e-9f67-8c1d2e3f4a5b";
/// The article published after the key rotation.
const ROTATED_ID: &str = "urn:uuid:5d0c6f3e-2a41-4b8e-9f67-8c1d2e3f4a5c";

const ARTICLE: &str = "+++\nid = \"urn:uuid:5d0c6f3e-2a41-4b8e-9f67-8c1d2e3f4a5b\"\nslug = \"apf-breve\"\n\
kind = \"teaser\"\ntitle = \"Brève fédérée\"\nsummary = \"Une brève publiée pendant le test activitypub_federation.\"\n\
tags = [\"interop\"]\npublished = \"2024-08-11T08:00:00Z\"\n+++\n";

#[tokio::test]
async fn an_activitypub_federation_peer_follows_verifies_and_interacts() {
    // Arrange: herald on `localhost` (the crate refuses IP-literal URLs).
    let app = spawn_reachable_app_at("localhost").await;
    let host = format!("localhost:{}", app.address.rsplit(':').next().unwrap());
    let peer = Peer::start().await;
    let bob = peer.bob().ap_id.clone();

    // WebFinger, then a signed Follow; herald answers with an Accept that
    // the crate verifies and bob's `Accept` parses.
    let news: DbUser = webfinger_resolve_actor(&format!("news@{host}"), &peer.data()).await.unwrap();
    assert_eq!(news.id().as_str(), format!("http://{host}/users/news"));
    let follow = Follow::new(bob.clone(), news.ap_id.clone(), peer.new_id("follows"));
    peer.send(follow.clone(), &news).await;
    let accept = peer.await_received("an Accept", |a| accepted(a).cloned()).await;
    assert_eq!(accept.object.id, follow.id);
    assert_eq!(accept.actor, news.ap_id);
    await_followers(&app, 1).await;

    // Publish from another process: a Create of the article's Note.
    app.write_content("apf-breve.md", ARTICLE);
    publish(&app).await;
    let create = peer.await_received("a Create", |a| created(a).cloned()).await;
    let note = create.object;
    assert!(note.content.contains("Brève fédérée"), "{note:#?}");
    assert_eq!(note.attributed_to, news.ap_id);
    assert!(note.id.as_str().starts_with(&format!("http://{host}/notes/")), "{}", note.id);

    // bob likes, boosts and answers it; herald counts each once.
    let like = Like::new(bob.clone(), note.id.clone(), peer.new_id("likes"));
    peer.send(like.clone(), &news).await;
    let announce = Announce::new(
        bob.clone(),
        note.id.clone(),
        vec![public()],
        vec![news.ap_id.inner().clone()],
        peer.new_id("boosts"),
    );
    peer.send(announce.clone(), &news).await;
    let reply = Note::reply(peer.new_id("notes"), bob.clone(), &note, "<p>Merci pour la brève.</p>");
    peer.send(Create::new(reply.clone(), peer.new_id("creates")), &news).await;
    await_interactions(&app, &[("announce", 1), ("like", 1), ("reply", 1)]).await;
    await_note_collections(&app, &note.id, 1).await;

    // An edit: an Update with the new text.
    app.write_content("apf-breve.md", &ARTICLE.replace("pendant le test", "pendant le test, corrigée,"));
    publish(&app).await;
    let update = peer.await_received("an Update", |a| updated(a).cloned()).await;
    assert_eq!(update.object.id, note.id);
    assert!(update.object.content.contains("corrigée"), "{update:#?}");

    // bob takes it all back: Undo(Like), Undo(Announce), Delete of the reply.
    peer.send(Undo::new(like, peer.new_id("undos")), &news).await;
    peer.send(Undo::new(announce, peer.new_id("undos")), &news).await;
    peer.send(Delete::new(bob.clone(), reply.id.clone(), vec![public()], peer.new_id("deletes")), &news).await;
    await_interactions(&app, &[]).await;
    await_note_collections(&app, &note.id, 0).await;

    // Retraction: a Delete of the Note.
    let retracted = ARTICLE.replace("published = ", "state = \"retracted\"\npublished = ");
    app.write_content("apf-breve.md", &retracted);
    publish(&app).await;
    let delete = peer.await_received("a Delete", |a| deleted(a).cloned()).await;
    assert_eq!(delete.object.id(), &note.id);

    // Key rotation: bob gets an Update of herald's actor carrying the new
    // key, verified by the crate with the key bob holds, and verifies the
    // next Create with the new key.
    let rotate = app.herald(&["key", "rotate"]).await;
    assert!(rotate.status.success(), "{rotate:?}");
    let renewed = peer.await_received("an Update of herald's actor", |a| updated_actor(a).cloned()).await;
    assert_eq!(renewed.object.id(), news.ap_id.inner());
    let served: Value = app
        .client
        .get(news.ap_id.inner().as_str())
        .header("accept", "application/activity+json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(renewed.object.public_key_pem(), served["publicKey"]["publicKeyPem"].as_str().unwrap());
    assert_ne!(renewed.object.public_key_pem(), news.public_key_pem(), "the key did not change");
    app.write_content("apf-rotation.md", &ARTICLE.replace(ARTICLE_ID, ROTATED_ID).replace("apf-breve", "apf-rotation"));
    publish(&app).await;
    let after = peer
        .await_received("a Create signed with the new key", |a| created(a).filter(|c| c.object.id != note.id).cloned())
        .await;
    assert!(after.object.id.as_str().contains("5d0c6f3e-2a41-4b8e-9f67-8c1d2e3f4a5c"), "{after:?}");

    // Unfollow: herald forgets bob.
    peer.send(Undo::new(follow, peer.new_id("undos")), &news).await;
    await_followers(&app, 0).await;

    // Everything herald sent passed the crate's verification and parsing.
    assert_eq!(peer.rejected(), Vec::<String>::new());
}

#[tokio::test]
async fn an_activitypub_federation_peer_gets_create_update_delete_for_api_changes() {
    // Arrange: bob follows; the CMS has a token.
    let app = spawn_reachable_app_at("localhost").await;
    let host = format!("localhost:{}", app.address.rsplit(':').next().unwrap());
    let peer = Peer::start().await;
    let bob = peer.bob().ap_id.clone();
    let news: DbUser = webfinger_resolve_actor(&format!("news@{host}"), &peer.data()).await.unwrap();
    peer.send(Follow::new(bob, news.ap_id.clone(), peer.new_id("follows")), &news).await;
    peer.await_received("an Accept", |a| accepted(a).cloned()).await;
    await_followers(&app, 1).await;
    let token = api::token(&app, "cms", false).await;
    let path = "/api/articles/5d0c6f3e-2a41-4b8e-9f67-8c1d2e3f4a5d";
    let article = json!({
        "id": "urn:uuid:5d0c6f3e-2a41-4b8e-9f67-8c1d2e3f4a5d", "slug": "apf-api",
        "title": "Brève du CMS", "summary": "Publiée par l’API pendant le test activitypub_federation.",
        "published": "2024-08-12T08:00:00Z", "body": "Le texte.\n"
    });

    // Act and assert: create, edit and retract through the API; bob's
    // crate verifies and parses each.
    let created_reply = api::call(&app, &token, Method::POST, "/api/articles", Some(&article)).await;
    assert_eq!(created_reply.status, 201, "{:#}", created_reply.body);
    let create = peer.await_received("a Create", |a| created(a).cloned()).await;
    assert!(create.object.content.contains("Brève du CMS"), "{:#?}", create.object);
    let note = create.object.id;

    let patch = json!({"title": "Brève du CMS, corrigée"});
    assert_eq!(api::call(&app, &token, Method::PATCH, path, Some(&patch)).await.status, 200);
    let update = peer.await_received("an Update", |a| updated(a).cloned()).await;
    assert_eq!(update.object.id, note);
    assert!(update.object.content.contains("corrigée"), "{update:#?}");

    assert_eq!(api::call(&app, &token, Method::DELETE, path, None).await.status, 200);
    let delete = peer.await_received("a Delete", |a| deleted(a).cloned()).await;
    assert_eq!(delete.object.id(), &note);
    assert_eq!(peer.rejected(), Vec::<String>::new());
}

fn accepted(activity: &Inbound) -> Option<&Accept> {
    match activity {
        Inbound::Accept(accept) => Some(accept),
        _ => None,
    }
}

fn created(activity: &Inbound) -> Option<&Create> {
    match activity {
        Inbound::Create(create) => Some(create),
        _ => None,
    }
}

fn updated_actor(activity: &Inbound) -> Option<&UpdateActor> {
    match activity {
        Inbound::UpdateActor(update) => Some(update),
        _ => None,
    }
}

fn updated(activity: &Inbound) -> Option<&Update> {
    match activity {
        Inbound::Update(update) => Some(update),
        _ => None,
    }
}

fn deleted(activity: &Inbound) -> Option<&Delete> {
    match activity {
        Inbound::Delete(delete) => Some(delete),
        _ => None,
    }
}

/// Polls `state` until it is `Ok`, at most `PATIENCE`; fails with the last `Err`.
async fn eventually<F, Fut>(what: &str, mut state: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match state().await {
            Ok(()) => return,
            Err(last) => assert!(tokio::time::Instant::now() < deadline, "{what} never happened; last seen: {last}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn await_followers(app: &TestApp, expected: i64) {
    eventually(&format!("{expected} followers"), || async {
        let count = app.store.follower_count().await.unwrap();
        if count == expected {
            Ok(())
        } else {
            Err(format!("{count} followers"))
        }
    })
    .await;
}

async fn await_interactions(app: &TestApp, expected: &[(&str, i64)]) {
    let expected: Vec<(String, i64)> = expected.iter().map(|(kind, n)| ((*kind).to_owned(), *n)).collect();
    eventually(&format!("interaction counts {expected:?}"), || async {
        let counts = app.store.interaction_counts(ARTICLE_ID).await.unwrap();
        if counts == expected {
            Ok(())
        } else {
            Err(format!("{counts:?}"))
        }
    })
    .await;
}

/// herald's Note document, as a peer fetches it, shows `n` likes, shares and replies.
async fn await_note_collections(app: &TestApp, note: &Url, n: i64) {
    eventually(&format!("likes, shares and replies of {note} at {n}"), || async {
        let response =
            app.client.get(note.as_str()).header("accept", "application/activity+json").send().await.unwrap();
        let doc: Value = response.json().await.unwrap();
        let totals: Vec<Value> =
            ["likes", "shares", "replies"].iter().map(|name| doc[name]["totalItems"].clone()).collect();
        if totals.iter().all(|total| total.as_i64() == Some(n)) {
            Ok(())
        } else {
            Err(format!("likes, shares, replies = {totals:?} in the Note {}", doc["id"]))
        }
    })
    .await;
}

async fn publish(app: &TestApp) {
    let output = app.herald(&["publish"]).await;
    assert!(output.status.success(), "{output:?}");
}
