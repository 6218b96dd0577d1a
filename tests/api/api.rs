//! The publishing API (`/api/`) over real HTTP: tokens made with the real
//! `herald token` command, articles created, edited, retracted and listed,
//! problem details, idempotency, files and API articles kept apart, and a
//! follower's inbox receiving the activities.
//! See: issue #10.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::common::{header, loopback_follower, python_check, repo, spawn_app, TestApp};
use crate::instances::sink;

const FILE_ARTICLE: &str = "urn:uuid:86f0943d-b849-48d0-b821-2b97a4c99fe8";

/// A token made with `herald token create`.
pub async fn token(app: &TestApp, name: &str, read_only: bool) -> String {
    let mut args = vec!["token", "create", "--name", name];
    if read_only {
        args.push("--read-only");
    }
    let output = app.herald(&args).await;
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

pub async fn call(app: &TestApp, token: &str, method: Method, path: &str, body: Option<&Value>) -> Reply {
    call_with(app, token, method, path, body, &[]).await
}

async fn call_with(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut request = app.client.request(method, format!("{}{path}", app.address)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
    Reply { status, headers, body }
}

fn article(n: u32, slug: &str) -> Value {
    json!({
        "id": format!("urn:uuid:00000000-0000-4000-8000-{n:012}"),
        "slug": slug,
        "title": format!("Article {n}"),
        "summary": "Un résumé.",
        "authors": ["La rédaction"],
        "tags": ["api", "sahel"],
        "published": format!("2024-09-{:02}T08:00:00Z", n.min(28)),
        "body": "Premier paragraphe, avec un [lien](../autre).\n"
    })
}

fn path_of(n: u32) -> String {
    format!("/api/articles/urn%3Auuid%3A00000000-0000-4000-8000-{n:012}")
}

fn is_problem(reply: &Reply, status: u16) {
    assert_eq!(reply.status.as_u16(), status, "{:#}", reply.body);
    assert_eq!(header(&reply.headers, "content-type"), "application/problem+json");
    assert_eq!(reply.body["status"], status, "{:#}", reply.body);
    for key in ["type", "title", "detail"] {
        assert!(reply.body[key].is_string(), "{key}: {:#}", reply.body);
    }
}

#[tokio::test]
async fn an_article_created_through_the_api_is_published_everywhere() {
    // Arrange
    let app = spawn_app().await;
    let token = token(&app, "cms", false).await;

    // Act
    let created = call(&app, &token, Method::POST, "/api/articles", Some(&article(1, "par-l-api"))).await;

    // Assert
    assert_eq!(created.status, 201, "{:#}", created.body);
    assert_eq!(header(&created.headers, "location"), path_of(1));
    assert_eq!(header(&created.headers, "cache-control"), "no-store");
    assert_eq!(created.body["source"], "api");
    assert_eq!(created.body["revision"], 1);
    assert_eq!(created.body["article"]["tags"], json!(["api", "sahel"]));
    assert_eq!(created.body["article"]["body"], "Premier paragraphe, avec un [lien](../autre).\n");
    assert_eq!(created.body["revisions"].as_array().unwrap().len(), 1);
    assert_eq!(created.body["deliveries"], json!({"pending": 0, "delivered": 0, "failed": 0}));
    app.await_body("/feed.atom", |atom| atom.contains("Article 1")).await;
    let page = app.text("/articles/par-l-api").await;
    assert!(page.contains("https://news.example.org/autre"), "relative links are made absolute");
    // The bare UUID names the same article.
    let read = call(&app, &token, Method::GET, "/api/articles/00000000-0000-4000-8000-000000000001", None).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["article"], created.body["article"]);
}

#[tokio::test]
async fn put_patch_and_delete_make_revisions_and_delete_retracts() {
    let app = spawn_app().await;
    let token = token(&app, "cms", false).await;
    let mut doc = article(2, "edite");
    assert_eq!(call(&app, &token, Method::POST, "/api/articles", Some(&doc)).await.status, 201);

    // PUT: the whole article again, with a new title.
    doc["title"] = json!("Titre remplacé");
    let put = call(&app, &token, Method::PUT, &path_of(2), Some(&doc)).await;
    assert_eq!(put.status, 200, "{:#}", put.body);
    assert_eq!(
        (put.body["revision"].clone(), put.body["article"]["title"].clone()),
        (json!(2), json!("Titre remplacé"))
    );
    // The same PUT again changes nothing.
    assert_eq!(call(&app, &token, Method::PUT, &path_of(2), Some(&doc)).await.body["revision"], 2);

    // PATCH: one field changes, the others stay; null removes `authors`.
    let patched =
        call(&app, &token, Method::PATCH, &path_of(2), Some(&json!({"summary": "Nouveau résumé", "authors": null})))
            .await;
    assert_eq!(patched.status, 200, "{:#}", patched.body);
    let article_now = &patched.body["article"];
    assert_eq!(article_now["summary"], "Nouveau résumé");
    assert_eq!(article_now["title"], "Titre remplacé");
    assert_eq!(article_now["authors"], json!([]));
    assert_eq!(article_now["body"], doc["body"]);
    assert_eq!(patched.body["revision"], 3);

    // DELETE retracts, and keeps the article and its history.
    let deleted = call(&app, &token, Method::DELETE, &path_of(2), None).await;
    assert_eq!(deleted.status, 200, "{:#}", deleted.body);
    assert_eq!(deleted.body["article"]["state"], "retracted");
    assert_eq!(app.get("/articles/edite").await.status(), 410);
    let history = call(&app, &token, Method::GET, &path_of(2), None).await;
    let revisions: Vec<(i64, String, String)> = history.body["revisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["revision"].as_i64().unwrap(), r["state"].as_str().unwrap().into(), r["title"].as_str().unwrap().into())
        })
        .collect();
    assert_eq!(
        revisions,
        [
            (1, "published".into(), "Article 2".into()),
            (2, "published".into(), "Titre remplacé".into()),
            (3, "published".into(), "Titre remplacé".into()),
            (4, "retracted".into(), "Titre remplacé".into()),
        ]
    );
    // And a PATCH publishes it again.
    let again = call(&app, &token, Method::PATCH, &path_of(2), Some(&json!({"state": "published"}))).await;
    assert_eq!((again.status.as_u16(), again.body["revision"].clone()), (200, json!(5)));
}

#[tokio::test]
async fn every_bad_field_is_one_problem_entry_and_nothing_is_stored() {
    let app = spawn_app().await;
    let token = token(&app, "cms", false).await;
    let before = app.store.site_state().await.unwrap();
    let bad = json!({
        "slug": "Pas Un Slug",
        "title": "",
        "summary": 42,
        "published": "05/08/2024",
        "tags": ["csp-dpa"],
        "image": {"url": "/a.jpg", "type": "jpeg"},
        "colour": "red",
        "body": "texte"
    });

    let reply = call(&app, &token, Method::POST, "/api/articles", Some(&bad)).await;

    is_problem(&reply, 422);
    assert_eq!(reply.body["type"], "/api/problems/invalid-article");
    let errors = reply.body["errors"].as_array().unwrap();
    let fields: Vec<&str> = errors.iter().map(|e| e["field"].as_str().unwrap()).collect();
    for field in ["colour", "slug", "title", "summary", "tags", "published", "image"] {
        assert!(fields.contains(&field), "{field} missing from {:#}", reply.body);
    }
    let published = errors.iter().find(|e| e["field"] == "published").unwrap();
    assert_eq!(published["detail"], "\"05/08/2024\" is not RFC 3339 with a UTC offset, e.g. \"2024-07-29T08:00:00Z\"");
    assert_eq!(app.store.site_state().await.unwrap(), before, "nothing was stored");
    let listed = call(&app, &token, Method::GET, "/api/articles?limit=100", None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 4, "only the sample publication");

    // Malformed JSON is a 400 problem.
    let response = app
        .client
        .post(format!("{}/api/articles", app.address))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"title\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(header(response.headers(), "content-type"), "application/problem+json");
}

#[tokio::test]
async fn bad_missing_and_revoked_tokens_get_401_and_read_only_tokens_cannot_write() {
    let app = spawn_app().await;
    let writer = token(&app, "cms", false).await;
    let reader = token(&app, "dashboard", true).await;
    assert!(writer.starts_with("hrld_") && writer != reader);

    let none = app.client.get(format!("{}/api/articles", app.address)).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(header(none.headers(), "www-authenticate"), "Bearer realm=\"herald\"");
    assert_eq!(header(none.headers(), "content-type"), "application/problem+json");
    is_problem(&call(&app, "hrld_not-a-token", Method::GET, "/api/articles", None).await, 401);

    assert_eq!(call(&app, &reader, Method::GET, "/api/articles", None).await.status, 200);
    let refused = call(&app, &reader, Method::POST, "/api/articles", Some(&article(3, "lecture"))).await;
    is_problem(&refused, 403);
    is_problem(&call(&app, &reader, Method::DELETE, &format!("/api/articles/{FILE_ARTICLE}"), None).await, 403);

    // `token list` shows names, never secrets; `token revoke` ends a token at once.
    let list = app.herald(&["token", "list"]).await;
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(listed.contains("cms") && listed.contains("dashboard"), "{listed}");
    assert!(!listed.contains(&writer) && !listed.contains("hrld_"), "{listed}");
    assert!(app.herald(&["token", "revoke", "cms"]).await.status.success());
    is_problem(&call(&app, &writer, Method::GET, "/api/articles", None).await, 401);
    assert_eq!(app.herald(&["token", "revoke", "cms"]).await.status.code(), Some(1));
}

#[tokio::test]
async fn a_retried_post_with_the_same_idempotency_key_makes_one_article() {
    let app = spawn_app().await;
    let token = token(&app, "cms", false).await;
    // No id: the server makes one, so a second article would be a duplicate.
    let mut doc = article(4, "une-seule-fois");
    doc.as_object_mut().unwrap().remove("id");
    let key = [("idempotency-key", "3f1c1a52-retry")];

    let first = call_with(&app, &token, Method::POST, "/api/articles", Some(&doc), &key).await;
    let retry = call_with(&app, &token, Method::POST, "/api/articles", Some(&doc), &key).await;

    assert_eq!(first.status, 201, "{:#}", first.body);
    assert_eq!(retry.status, 201);
    assert_eq!(retry.body, first.body);
    assert_eq!(header(&retry.headers, "location"), header(&first.headers, "location"));
    assert_eq!(header(&retry.headers, "idempotent-replayed"), "true");
    let listed = call(&app, &token, Method::GET, "/api/articles?tag=api", None).await;
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1, "{:#}", listed.body);

    // The same key with another body is refused; another key makes a new request.
    doc["slug"] = json!("une-autre");
    let reused = call_with(&app, &token, Method::POST, "/api/articles", Some(&doc), &key).await;
    is_problem(&reused, 422);
    assert_eq!(reused.body["type"], "/api/problems/idempotency-key-reused");
    let other_key = [("idempotency-key", "3f1c1a52-other")];
    assert_eq!(call_with(&app, &token, Method::POST, "/api/articles", Some(&doc), &other_key).await.status, 201);
}

#[tokio::test]
async fn files_and_api_articles_keep_to_their_own() {
    let app = spawn_app().await;
    let token = token(&app, "cms", false).await;
    assert_eq!(call(&app, &token, Method::POST, "/api/articles", Some(&article(5, "depuis-le-cms"))).await.status, 201);

    // A file with the API article's id is refused, naming the file, the field and what to do.
    app.write_content(
        "copie.md",
        "+++\nid = \"urn:uuid:00000000-0000-4000-8000-000000000005\"\nslug = \"copie\"\nkind = \"teaser\"\n\
         title = \"Copie\"\nsummary = \"S\"\npublished = \"2024-09-05T08:00:00Z\"\n+++\n",
    );
    let output = app.herald(&["publish", "--prune"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("copie.md:1: id: urn:uuid:00000000-0000-4000-8000-000000000005 belongs to an article made through the API; give this file a new id"),
        "{stdout}"
    );
    // `publish --prune` leaves the API article alone (it has no file).
    assert!(!stdout.contains("depuis-le-cms"), "{stdout}");
    let kept = call(&app, &token, Method::GET, &path_of(5), None).await;
    assert_eq!(kept.body["article"]["state"], "published");
    assert_eq!(kept.body["article"]["title"], "Article 5");

    // The API does not write over a file's article.
    let path = format!("/api/articles/{FILE_ARTICLE}");
    let patch = call(&app, &token, Method::PATCH, &path, Some(&json!({"title": "Réécrit"}))).await;
    is_problem(&patch, 409);
    assert!(patch.body["detail"].as_str().unwrap().contains("mali-embuscade-tin-zaouatine-wagner-ukraine.md"));
    is_problem(&call(&app, &token, Method::DELETE, &path, None).await, 409);
    let read = call(&app, &token, Method::GET, &path, None).await;
    assert_eq!(
        (read.body["source"].clone(), read.body["article"]["state"].clone()),
        (json!("file"), json!("published"))
    );
}

#[tokio::test]
async fn conflicts_with_what_is_stored_are_409_problems() {
    let app = spawn_app().await;
    let token = token(&app, "cms", false).await;
    let doc = article(6, "premier");
    assert_eq!(call(&app, &token, Method::POST, "/api/articles", Some(&doc)).await.status, 201);

    let again = call(&app, &token, Method::POST, "/api/articles", Some(&doc)).await;
    is_problem(&again, 409);
    assert_eq!(again.body["errors"][0]["field"], "id");
    let taken = call(&app, &token, Method::POST, "/api/articles", Some(&article(7, "premier"))).await;
    is_problem(&taken, 409);
    assert_eq!(taken.body["errors"][0]["field"], "slug");
    let moved =
        call(&app, &token, Method::PATCH, &path_of(6), Some(&json!({"published": "2024-01-01T00:00:00Z"}))).await;
    is_problem(&moved, 409);
    assert_eq!(moved.body["errors"][0]["field"], "published");
    let other_id = call(&app, &token, Method::PUT, &path_of(8), Some(&doc)).await;
    is_problem(&other_id, 422);
    assert_eq!(other_id.body["errors"][0]["field"], "id");
    is_problem(&call(&app, &token, Method::GET, &path_of(9), None).await, 404);
}

#[tokio::test]
async fn the_listing_filters_by_state_and_tag_and_pages_with_a_cursor() {
    let app = spawn_app().await;
    let token = token(&app, "cms", false).await;
    for n in 10..15 {
        assert_eq!(
            call(&app, &token, Method::POST, "/api/articles", Some(&article(n, &format!("a-{n}")))).await.status,
            201
        );
    }
    assert_eq!(call(&app, &token, Method::DELETE, &path_of(12), None).await.status, 200);

    // Pages of two, newest first, through every article (5 from the API, 4 files).
    let mut slugs = Vec::new();
    let mut path = "/api/articles?limit=2".to_owned();
    loop {
        let page = call(&app, &token, Method::GET, &path, None).await;
        assert_eq!(page.status, 200, "{:#}", page.body);
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        slugs.extend(items.iter().map(|i| i["article"]["slug"].as_str().unwrap().to_owned()));
        match page.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/articles?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(slugs.len(), 9, "{slugs:?}");
    assert_eq!(&slugs[..5], ["a-14", "a-13", "a-12", "a-11", "a-10"]);

    let retracted = call(&app, &token, Method::GET, "/api/articles?state=retracted", None).await;
    let slugs_of = |reply: &Reply| -> Vec<String> {
        reply.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["article"]["slug"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(slugs_of(&retracted), ["a-12"]);
    let tagged = call(&app, &token, Method::GET, "/api/articles?state=published&tag=API", None).await;
    assert_eq!(slugs_of(&tagged), ["a-14", "a-13", "a-11", "a-10"]);
    assert_eq!(slugs_of(&call(&app, &token, Method::GET, "/api/articles?state=scheduled", None).await).len(), 0);

    // A future `published` time: stored, held, and listed as scheduled.
    let at = (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut embargoed = article(20, "embargo");
    embargoed["published"] = json!(at);
    let created = call(&app, &token, Method::POST, "/api/articles", Some(&embargoed)).await;
    assert_eq!(created.status, 201, "{:#}", created.body);
    assert_eq!(created.body["scheduled_for"], json!(at));
    let scheduled = call(&app, &token, Method::GET, "/api/articles?state=scheduled", None).await;
    assert_eq!(slugs_of(&scheduled), ["embargo"]);
    assert_eq!(scheduled.body["items"][0]["scheduled_for"], json!(at));
    let published = call(&app, &token, Method::GET, "/api/articles?state=published&tag=api", None).await;
    assert!(!slugs_of(&published).contains(&"embargo".to_owned()));
    assert!(!app.text("/feed.atom").await.contains("embargo"));
    is_problem(&call(&app, &token, Method::GET, "/api/articles?state=draft", None).await, 400);
    is_problem(&call(&app, &token, Method::GET, "/api/articles?cursor=nope", None).await, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_gets_create_update_and_delete_for_api_changes() {
    // Arrange: a follower whose inbox is on loopback.
    let app = spawn_app().await;
    let (base, received) = sink().await;
    app.store.import_followers(&[loopback_follower(&base, 1)], chrono::Utc::now()).await.unwrap();
    let token = token(&app, "cms", false).await;

    // Act
    assert_eq!(call(&app, &token, Method::POST, "/api/articles", Some(&article(20, "federe"))).await.status, 201);
    assert_eq!(call(&app, &token, Method::PATCH, &path_of(20), Some(&json!({"title": "Fédéré"}))).await.status, 200);
    assert_eq!(call(&app, &token, Method::DELETE, &path_of(20), None).await.status, 200);

    // Assert: the three activities arrive, about the article's Note.
    let note = "https://news.example.org/notes/00000000-0000-4000-8000-000000000020";
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let types: Vec<String> =
            received.lock().unwrap().iter().filter(|a| a.object == note).map(|a| a.kind.clone()).collect();
        if types.len() >= 3 {
            let mut sorted = types.clone();
            sorted.sort();
            assert_eq!(sorted, ["Create", "Delete", "Update"], "{types:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the follower got only {types:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let detail = call(&app, &token, Method::GET, &path_of(20), None).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut deliveries = detail.body["deliveries"].clone();
    while deliveries["delivered"] != 3 {
        assert!(tokio::time::Instant::now() < deadline, "{deliveries:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        deliveries = call(&app, &token, Method::GET, &path_of(20), None).await.body["deliveries"].clone();
    }
}

#[tokio::test]
async fn the_openapi_document_is_served_and_valid() {
    let app = spawn_app().await;
    // Served without a token, byte for byte the checked-in file.
    let served = app.text("/api/openapi.json").await;
    let file = repo().join("openapi/herald.json");
    assert_eq!(served, std::fs::read_to_string(&file).unwrap());

    let Some(output) = python_check("check_openapi.py", &[&file]) else { return };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.starts_with("ok "), "{stdout}");

    // The validator is real: it refuses a document with no info.version.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"openapi": "3.1.0", "info": {"title": "x"}, "paths": {}}"#).unwrap();
    let output = python_check("check_openapi.py", &[&bad]).unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stdout));
}

/// Uploads `bytes` with `POST /api/media{query}`.
pub async fn upload(app: &TestApp, token: &str, query: &str, content_type: &str, bytes: Vec<u8>) -> Reply {
    let response = app
        .client
        .post(format!("{}/api/media{query}", app.address))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap();
    Reply { status, headers, body }
}

pub fn png() -> Vec<u8> {
    std::fs::read(repo().join("tests/fixtures/media/img/carte.png")).unwrap()
}

#[tokio::test]
async fn uploaded_media_is_served_and_never_replaced() {
    // Arrange
    let app = spawn_app().await;
    let token = token(&app, "cms", false).await;
    let bytes = png();

    // Act: an upload to a path, then the same bytes again.
    let first = upload(&app, &token, "?path=img/depuis-le-cms.png", "application/octet-stream", bytes.clone()).await;
    let again = upload(&app, &token, "?path=img/depuis-le-cms.png", "application/octet-stream", bytes.clone()).await;

    // Assert: stored once, with what herald read from the file.
    assert_eq!(first.status, 201, "{:#}", first.body);
    assert_eq!(first.body["path"], "img/depuis-le-cms.png");
    assert_eq!(first.body["type"], "image/png");
    assert_eq!(first.body["length"], bytes.len());
    assert!(first.body["width"].as_u64().unwrap() > 0 && first.body["height"].as_u64().unwrap() > 0);
    let url = first.body["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("https://news.example.org/media/img/depuis-le-cms.png?v="), "{url}");
    assert_eq!(header(&first.headers, "location"), url);
    assert_eq!(again.status, 200, "{:#}", again.body);
    assert_eq!(again.body, first.body);
    // Served under /media/, the bytes as uploaded, with their hash as ETag.
    let served = app.client.get(format!("{}/media/img/depuis-le-cms.png", app.address)).send().await.unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(header(served.headers(), "content-type"), "image/png");
    let etag = header(served.headers(), "etag").trim_matches('"').to_owned();
    assert!(etag.len() >= 32 && first.body["sha256"].as_str().unwrap().starts_with(&etag), "{etag}");
    assert_eq!(served.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // Other bytes at a taken path: 409, and the stored file is untouched.
    let mut other = bytes.clone();
    other.extend_from_slice(b"trailing bytes");
    let replaced = upload(&app, &token, "?path=img/depuis-le-cms.png", "image/png", other.clone()).await;
    is_problem(&replaced, 409);
    assert_eq!(replaced.body["errors"][0]["field"], "path");
    assert!(replaced.body["detail"].as_str().unwrap().contains("upload under a new path"), "{:#}", replaced.body);
    let served = app.client.get(format!("{}/media/img/depuis-le-cms.png", app.address)).send().await.unwrap();
    assert_eq!(served.bytes().await.unwrap().as_ref(), bytes.as_slice());

    // Without a path, the file is named by its content and its type.
    let unnamed = upload(&app, &token, "", "image/png", bytes.clone()).await;
    assert_eq!(unnamed.status, 201, "{:#}", unnamed.body);
    let path = unnamed.body["path"].as_str().unwrap();
    assert!(path.starts_with("uploads/") && path.ends_with(".png"), "{path}");
    assert_eq!(unnamed.body["sha256"], first.body["sha256"]);
}

#[tokio::test]
async fn bad_uploads_are_problems_and_store_nothing() {
    // Arrange
    let app = spawn_app().await;
    let token = token(&app, "cms", false).await;
    let reader = self::token(&app, "lecteur", true).await;

    // Act and assert: each bad upload gets its own problem.
    let read_only = upload(&app, &reader, "?path=img/a.png", "image/png", png()).await;
    is_problem(&read_only, 403);
    let bad_path = upload(&app, &token, "?path=../etc/a.png", "image/png", png()).await;
    is_problem(&bad_path, 422);
    assert_eq!(bad_path.body["type"], "/api/problems/invalid-media");
    assert_eq!(bad_path.body["errors"][0]["field"], "path");
    let svg = upload(&app, &token, "?path=img/a.svg", "image/svg+xml", b"<svg/>".to_vec()).await;
    is_problem(&svg, 422);
    assert_eq!(svg.body["errors"][0]["field"], "file");
    let not_an_image = upload(&app, &token, "?path=img/a.png", "image/png", b"not a png".to_vec()).await;
    is_problem(&not_an_image, 422);
    assert!(not_an_image.body["errors"][0]["detail"].as_str().unwrap().contains("img/a.png"));
    let unknown_type = upload(&app, &token, "", "application/x-www-form-urlencoded", png()).await;
    is_problem(&unknown_type, 415);
    let empty = upload(&app, &token, "?path=img/a.png", "image/png", Vec::new()).await;
    is_problem(&empty, 422);
    let too_large = upload(&app, &token, "?path=docs/a.pdf", "application/pdf", vec![b'%'; 20 * 1024 * 1024 + 1]).await;
    is_problem(&too_large, 413);
    assert!(too_large.body["detail"].as_str().unwrap().contains("20 MiB"), "{:#}", too_large.body);

    // Nothing was stored.
    let missing = app.client.get(format!("{}/media/img/a.png", app.address)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert!(app.store.media_hashes().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_api_article_names_an_uploaded_image_by_its_path() {
    // Arrange: the image is uploaded first.
    let app = spawn_app().await;
    let token = token(&app, "cms", false).await;
    let uploaded = upload(&app, &token, "?path=img/carte-api.png", "image/png", png()).await;
    assert_eq!(uploaded.status, 201, "{:#}", uploaded.body);
    let url = uploaded.body["url"].as_str().unwrap();
    let mut doc = article(30, "avec-image");
    doc["image"] = json!({"url": "img/carte-api.png", "alt": "Une carte"});
    doc["body"] = json!("La [carte en grand](/media/img/carte-api.png).\n");
    let mut missing = article(31, "sans-image");
    missing["image"] = json!({"url": "/media/img/absente.png", "alt": "Absente"});

    // Act
    let created = call(&app, &token, Method::POST, "/api/articles", Some(&doc)).await;
    let refused = call(&app, &token, Method::POST, "/api/articles", Some(&missing)).await;

    // Assert: the image is the file, measured; the body links to it.
    assert_eq!(created.status, 201, "{:#}", created.body);
    let image = &created.body["article"]["image"];
    assert_eq!(image["url"], url);
    assert_eq!(image["type"], "image/png");
    assert_eq!(image["length"], uploaded.body["length"]);
    assert_eq!(image["width"], uploaded.body["width"]);
    assert_eq!(image["height"], uploaded.body["height"]);
    let feed = app.await_body("/feed.rss", |rss| rss.contains("Article 30")).await;
    assert!(feed.contains(&format!("<enclosure url=\"{}\"", url.replace('&', "&amp;"))), "{feed}");
    let page = app.text("/articles/avec-image").await;
    assert!(page.contains(&format!("href=\"{url}\"")), "the body's link names the file: {page}");
    // A path no file is stored at: 422 on image.url, nothing stored.
    is_problem(&refused, 422);
    assert_eq!(refused.body["errors"][0]["field"], "image.url");
    assert!(refused.body["errors"][0]["detail"].as_str().unwrap().contains("POST /api/media"), "{:#}", refused.body);
    assert_eq!(call(&app, &token, Method::GET, &path_of(31), None).await.status, 404);
}

#[tokio::test]
async fn a_publish_does_not_replace_an_uploaded_file() {
    // Arrange: the CMS uploaded img/carte.png; the content directory has
    // another file at the same path.
    let app = spawn_app().await;
    let token = token(&app, "cms", false).await;
    let mut uploaded = png();
    uploaded.extend_from_slice(b"uploaded through the API");
    assert_eq!(upload(&app, &token, "?path=img/carte.png", "image/png", uploaded.clone()).await.status, 201);
    std::fs::create_dir_all(app.content_dir.join("img")).unwrap();
    std::fs::write(app.content_dir.join("img/carte.png"), png()).unwrap();
    let article = "+++\nid = \"urn:uuid:7a0e9c1d-3b2f-4e5a-8c6d-1f2e3d4c5b6a\"\nslug = \"carte-locale\"\n\
                   title = \"Carte locale\"\nsummary = \"Elle nomme le fichier du répertoire.\"\n\
                   published = \"2024-09-04T08:00:00Z\"\n[image]\nurl = \"img/carte.png\"\nalt = \"Une carte\"\n+++\n\nTexte.\n";
    app.write_content("carte-locale.md", article);

    // Act
    let output = app.herald(&["publish"]).await;

    // Assert: the file is an error naming it; the upload is still served.
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{output:?}");
    assert!(
        stdout.contains("img/carte.png: /media/img/carte.png holds another file, uploaded through the API"),
        "{output:?}"
    );
    let served = app.client.get(format!("{}/media/img/carte.png", app.address)).send().await.unwrap();
    assert_eq!(served.bytes().await.unwrap().as_ref(), uploaded.as_slice());
    // The article naming that file waits: it would show the upload.
    assert!(
        stdout.contains("carte-locale.md: names the media file img/carte.png, which was not published"),
        "{stdout}"
    );
    assert_eq!(app.client.get(format!("{}/articles/carte-locale", app.address)).send().await.unwrap().status(), 404);

    // Renamed, the file and its article publish.
    std::fs::rename(app.content_dir.join("img/carte.png"), app.content_dir.join("img/carte-locale.png")).unwrap();
    app.write_content("carte-locale.md", &article.replace("img/carte.png", "img/carte-locale.png"));
    let output = app.herald(&["publish"]).await;
    assert!(output.status.success(), "{output:?}");
    app.await_body("/articles/carte-locale", |page| page.contains("/media/img/carte-locale.png?v=")).await;
}

/// The shell commands of the README's API examples, one script per
/// commented group, in order: (comment, script).
fn readme_examples() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let start = readme.find("**Examples**").expect("the README's API examples");
    let block = readme[start..].split("```sh\n").nth(1).unwrap().split("\n```").next().unwrap();
    let mut groups: Vec<(String, String)> = Vec::new();
    for line in block.lines() {
        match (line.strip_prefix("# "), groups.last_mut()) {
            (Some(comment), _) => groups.push((comment.to_owned(), String::new())),
            (None, Some((_, script))) => {
                script.push_str(line);
                script.push('\n');
            }
            (None, None) => panic!("the examples start with a comment: {line}"),
        }
    }
    groups
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_curl_examples_publish_edit_and_retract() {
    // Arrange
    let Some(curl) = crate::common::tool("HERALD_CURL", "curl") else { return };
    let app = spawn_app().await;
    let token = token(&app, "cms", false).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("niamey.jpg"), png()).unwrap();
    let path = format!("{}:{}", curl.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let mut id = String::new();
    let examples = readme_examples();
    let run = |script: &str, id: &str| {
        let output = std::process::Command::new("bash")
            .args(["-e", "-c", script])
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("TOKEN", &token)
            .env("API", format!("{}/api", app.address))
            .env("ID", id)
            .output()
            .unwrap();
        assert!(output.status.success(), "{script}\n{output:?}");
        // Each command answers one JSON document; none is a problem.
        let stdout = String::from_utf8(output.stdout).unwrap();
        let answers: Vec<Value> =
            serde_json::Deserializer::from_str(&stdout).into_iter().collect::<Result<_, _>>().unwrap();
        for answer in &answers {
            assert!(answer.get("status").is_none(), "{script}\n{answer:#}");
        }
        answers
    };

    // Act and assert: each example, as written, does what its comment says.
    let kinds: Vec<&str> = examples.iter().map(|(comment, _)| comment.split([' ', ':']).next().unwrap()).collect();
    assert_eq!(kinds, ["Create", "Edit", "Replace", "Retract", "List", "Upload"]);
    for (comment, script) in &examples {
        let answers = tokio::task::block_in_place(|| run(script, &id));
        let last = answers.last().unwrap_or_else(|| panic!("{comment}: no answer"));
        match comment.split([' ', ':']).next().unwrap() {
            "Create" => {
                id = last["article"]["id"].as_str().unwrap().to_owned();
                app.await_body("/feed.atom", |atom| atom.contains("les élections reportées")).await;
            }
            "Edit" => assert_eq!(last["article"]["title"], "Niger : les élections reportées à 2025"),
            "Replace" => {
                // The next example sends article.json: write it as the comment says.
                assert_eq!(last["revision"], 3, "{last:#}");
                assert_eq!(last["article"]["summary"], "La junte repousse encore le scrutin.");
            }
            "Retract" => {
                assert_eq!(last["article"]["state"], "retracted");
                app.await_body("/feed.atom", |atom| !atom.contains("les élections reportées")).await;
            }
            "List" => assert!(last["items"].is_array(), "{last:#}"),
            "Upload" => {
                assert_eq!(answers[0]["path"], "img/niamey.jpg");
                assert_eq!(last["article"]["image"]["url"], answers[0]["url"]);
                app.await_body("/feed.rss", |rss| rss.contains("Niamey en images")).await;
            }
            other => panic!("an example the test does not know: {other}"),
        }
        if comment.starts_with("Edit") {
            // What "Replace it whole" sends: the article as GET answers it, changed.
            let current = call(&app, &token, Method::GET, &format!("/api/articles/{id}"), None).await;
            let mut article = current.body["article"].clone();
            article["summary"] = json!("La junte repousse encore le scrutin.");
            std::fs::write(dir.path().join("article.json"), article.to_string()).unwrap();
        }
    }
}
