//! ActivityPub discovery, actor, Notes and collections, over real HTTP.

use serde_json::Value;

use crate::common::{header, spawn_app};

const AS2: &str = "application/activity+json";
const LD: &str = "application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\"";
const ARTICLE_NOTE: &str = "https://news.example.org/notes/86f0943d-b849-48d0-b821-2b97a4c99fe8";

async fn json(app: &crate::common::TestApp, path: &str, accept: &str) -> (reqwest::header::HeaderMap, Value) {
    let response = app.get_with(path, &[("accept", accept)]).await;
    assert_eq!(response.status(), 200, "{path}");
    let headers = response.headers().clone();
    (headers, response.json().await.unwrap())
}

#[tokio::test]
async fn webfinger_finds_the_account_by_handle_and_by_actor_url() {
    let app = spawn_app().await;
    for resource in ["acct:news@news.example.org", "https://news.example.org/users/news"] {
        let response = app.get(&format!("/.well-known/webfinger?resource={resource}")).await;
        assert_eq!(response.status(), 200, "{resource}");
        assert_eq!(header(response.headers(), "content-type"), "application/jrd+json");
        let jrd: Value = response.json().await.unwrap();
        assert_eq!(jrd["subject"], "acct:news@news.example.org");
        let this = jrd["links"].as_array().unwrap().iter().find(|l| l["rel"] == "self").unwrap();
        assert_eq!(this["type"], AS2);
        assert_eq!(this["href"], "https://news.example.org/users/news");
        assert!(jrd["links"].as_array().unwrap().iter().any(|l| l["rel"] == "http://webfinger.net/rel/profile-page"));
    }
}

#[tokio::test]
async fn webfinger_refuses_bad_queries_and_unknown_accounts() {
    let app = spawn_app().await;
    assert_eq!(app.get("/.well-known/webfinger").await.status(), 400);
    assert_eq!(app.get("/.well-known/webfinger?resource=").await.status(), 400);
    assert_eq!(app.get("/.well-known/webfinger?resource=acct:other@news.example.org").await.status(), 404);
    assert_eq!(app.get("/.well-known/webfinger?resource=acct:news@elsewhere.org").await.status(), 404);
    let host_meta = app.text("/.well-known/host-meta").await;
    assert!(
        host_meta.contains("template=\"https://news.example.org/.well-known/webfinger?resource={uri}\""),
        "{host_meta}"
    );
}

#[tokio::test]
async fn the_actor_is_activity_json_for_both_accept_forms_and_html_for_browsers() {
    let app = spawn_app().await;
    let (headers, actor) = json(&app, "/users/news", AS2).await;
    assert_eq!(header(&headers, "content-type"), AS2);
    assert_eq!(header(&headers, "vary"), "Accept, Accept-Encoding");
    let (_, same) = json(&app, "/users/news", LD).await;
    assert_eq!(actor, same);
    assert_eq!(actor["id"], "https://news.example.org/users/news");
    assert_eq!(actor["inbox"], "https://news.example.org/users/news/inbox");
    assert_eq!(actor["endpoints"]["sharedInbox"], "https://news.example.org/inbox");
    assert_eq!(actor["followers"], "https://news.example.org/users/news/followers");
    let pem = actor["publicKey"]["publicKeyPem"].as_str().unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n") && pem.len() > 400, "{pem}");
    assert_eq!(actor["publicKey"]["owner"], actor["id"]);

    let page = app.get_with("/users/news", &[("accept", "text/html")]).await;
    assert_eq!(header(page.headers(), "content-type"), "text/html; charset=utf-8");
    let page = page.text().await.unwrap();
    assert!(page.contains("@news@news.example.org"));
    assert!(page.contains("https://news.example.org/feed.atom"));
    assert_eq!(app.get_with("/users/other", &[("accept", AS2)]).await.status(), 404);
}

#[tokio::test]
async fn the_key_is_made_once_and_kept_across_restarts() {
    let app = spawn_app().await;
    let (_, before) = json(&app, "/users/news", AS2).await;
    // A second server on the same database (as after a restart) serves the same key.
    let mut env = crate::common::test_env(app.dir.path());
    env.retain(|(k, _)| k != "HERALD_DATABASE__URL");
    env.push(("HERALD_DATABASE__URL".into(), app.database_url.clone()));
    let settings = herald::config::Settings::load_with_env(None, env).unwrap();
    let second = herald::startup::Application::build(settings).await.unwrap();
    let stored = second.state().store.actor_key().await.unwrap().unwrap().0;
    assert_eq!(before["publicKey"]["publicKeyPem"], stored.public_pem.as_str());
}

#[tokio::test]
async fn nodeinfo_describes_herald_and_counts_local_posts() {
    let app = spawn_app().await;
    let links: Value = app.get("/.well-known/nodeinfo").await.json().await.unwrap();
    assert_eq!(links["links"][0]["href"], "https://news.example.org/nodeinfo/2.1");
    let response = app.get("/nodeinfo/2.1").await;
    assert!(header(response.headers(), "content-type").starts_with("application/json; profile="));
    let info: Value = response.json().await.unwrap();
    assert_eq!(info["software"]["name"], "herald");
    assert_eq!(info["protocols"][0], "activitypub");
    assert_eq!(info["openRegistrations"], false);
    assert_eq!(info["usage"]["localPosts"], 4);
}

#[tokio::test]
async fn the_outbox_lists_four_french_notes_with_hashtags_and_no_summary() {
    let app = spawn_app().await;
    let (_, outbox) = json(&app, "/users/news/outbox", AS2).await;
    assert_eq!(outbox["type"], "OrderedCollection");
    assert_eq!(outbox["totalItems"], 4);
    let (_, page) =
        json(&app, outbox["first"].as_str().unwrap().trim_start_matches("https://news.example.org"), AS2).await;
    let items = page["orderedItems"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    for create in items {
        assert_eq!(create["type"], "Create");
        let note = &create["object"];
        assert_eq!(note["type"], "Note");
        assert!(note.get("summary").is_none());
        assert_eq!(note["contentMap"]["fr"], note["content"]);
        assert_eq!(note["to"][0], "https://www.w3.org/ns/activitystreams#Public");
    }
    let first = &items[0]["object"];
    assert_eq!(first["id"], ARTICLE_NOTE);
    assert_eq!(first["tag"][0]["type"], "Hashtag");
    assert_eq!(first["tag"][0]["name"], "#mali");
    assert_eq!(app.get("/users/news/outbox?page=9").await.status(), 404);
    let (_, followers) = json(&app, "/users/news/followers", AS2).await;
    assert_eq!(followers["totalItems"], 0);
    let (_, following) = json(&app, "/users/news/following", AS2).await;
    assert_eq!(following["totalItems"], 0);
}

#[tokio::test]
async fn an_article_url_answers_its_note_to_activitypub_clients() {
    let app = spawn_app().await;
    let (headers, note) = json(&app, "/articles/mali-embuscade-tin-zaouatine-wagner-ukraine", AS2).await;
    assert_eq!(header(&headers, "content-type"), AS2);
    assert!(header(&headers, "vary").contains("Accept"));
    assert_eq!(note["id"], ARTICLE_NOTE);
    let (_, by_id) = json(&app, "/notes/86f0943d-b849-48d0-b821-2b97a4c99fe8", AS2).await;
    assert_eq!(note, by_id);
    let page = app.text("/articles/mali-embuscade-tin-zaouatine-wagner-ukraine").await;
    assert!(page.contains("<meta name=\"fediverse:creator\" content=\"@news@news.example.org\">"));
    assert!(page.contains("<meta property=\"og:title\""));
}

#[tokio::test]
async fn a_retracted_article_s_note_answers_410_with_a_tombstone() {
    let app = spawn_app().await;
    let file = "kuleba-appel-boycott-trois-entreprises.md";
    app.write_content(file, &app.read_content(file).replace("state = \"published\"", "state = \"retracted\""));
    assert!(app.herald(&["publish"]).await.status.success());
    app.await_body("/feed.atom", |b| !b.contains("kuleba")).await;

    let response = app.get_with("/notes/d3da699c-3a45-4fab-8085-91bd8807df37", &[("accept", AS2)]).await;
    assert_eq!(response.status(), 410);
    let tombstone: Value = response.json().await.unwrap();
    assert_eq!(tombstone["type"], "Tombstone");
    assert_eq!(tombstone["id"], "https://news.example.org/notes/d3da699c-3a45-4fab-8085-91bd8807df37");
    let (_, outbox) = json(&app, "/users/news/outbox", AS2).await;
    assert_eq!(outbox["totalItems"], 3);
}

#[tokio::test]
async fn a_profile_change_or_a_move_is_announced_to_followers_once() {
    use herald::config::Settings;
    use herald::federation::profile::announce_changes;
    use herald::store::{RemoteActorRow, Store};

    // Arrange: a first start records the actor's version; then a follower.
    let app = spawn_app().await;
    let env = crate::common::test_env(app.dir.path());
    let settings = |extra: &[(&str, &str)]| {
        let mut env = env.clone();
        env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Settings::load_with_env(None, env).unwrap()
    };
    let store: &Store = &app.store;
    let follower = RemoteActorRow {
        id: "https://m.example/users/a".into(),
        inbox: "https://m.example/users/a/inbox".into(),
        shared_inbox: Some("https://m.example/inbox".into()),
        key_id: String::new(),
        public_pem: String::new(),
        fetched_at: chrono::Utc::now(),
    };
    store.import_followers(&[follower], chrono::Utc::now()).await.unwrap();
    let now = chrono::Utc::now();
    let unchanged = announce_changes(store, &settings(&[]), None, now).await.unwrap();
    assert_eq!((unchanged.update, unchanged.moved), (0, 0), "nothing changed since the start");

    // Act: a new display name, twice; then a move.
    let renamed = settings(&[("HERALD_FEDERATION__DISPLAY_NAME", "Le Journal")]);
    let first = announce_changes(store, &renamed, None, now).await.unwrap();
    let again = announce_changes(store, &renamed, None, now).await.unwrap();
    let moved = settings(&[
        ("HERALD_FEDERATION__DISPLAY_NAME", "Le Journal"),
        ("HERALD_FEDERATION__MOVED_TO", "https://new.example/users/journal"),
    ]);
    let first_move = announce_changes(store, &moved, None, now).await.unwrap();
    let second_move = announce_changes(store, &moved, None, now).await.unwrap();

    // Assert: one Update per change, one Move per target, to the shared inbox.
    assert_eq!((first.update, again.update), (1, 0));
    assert_eq!((first_move.update, first_move.moved), (1, 1), "movedTo changes the actor too");
    assert_eq!((second_move.update, second_move.moved), (0, 0));
    let jobs = store.inbox_jobs("https://m.example/inbox", 10).await.unwrap();
    let ids: Vec<&str> = jobs.iter().map(|j| j.activity_id.as_str()).collect();
    assert_eq!(ids.iter().filter(|id| id.contains("/users/news#updates/")).count(), 2, "{ids:?}");
    assert_eq!(ids.iter().filter(|id| id.contains("/users/news#moves/")).count(), 1, "{ids:?}");
}
