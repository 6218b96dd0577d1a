//! `deploy/nginx.conf`, run by a real nginx in front of two instances on one
//! database: feeds are cached and revalidated with herald's ETags, discovery
//! answers through the proxy, and a signed inbox POST keeps a valid signature
//! on its way through.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;
use herald::federation::keys::{self, StoredKey};
use herald::federation::signature;
use serde_json::{json, Value};
use tokio::process::{Child, Command};
use url::Url;

use crate::common::{header, repo, spawn_instance, tool, TestApp};

#[tokio::test]
async fn the_deploy_nginx_conf_fronts_two_instances() {
    let Some(nginx_bin) = tool("HERALD_NGINX", "nginx") else { return };

    // Arrange
    let dir = tempfile::tempdir().unwrap();
    // Two instances on one PostgreSQL database, as deploy/compose.yaml runs
    // them (skipped locally without the cluster of scripts/test.sh).
    let Some(database_url) = crate::pg::fresh_database().await else { return };
    let port = free_port();
    let site = format!("http://127.0.0.1:{port}");
    let base_url = format!("{site}/");
    let first = spawn_instance(&database_url, &base_url).await;
    let second = spawn_instance(&database_url, &base_url).await;
    let _nginx = Nginx::start(&nginx_bin, &dir.path().join("nginx"), port, [&first, &second]).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    // Act: the feed, then the same request with its ETag.
    let feed = client.get(format!("{site}/feed.atom")).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(feed.status(), 200);
    assert_eq!(header(feed.headers(), "content-encoding"), "gzip");
    let etag = header(feed.headers(), "etag").to_owned();
    assert!(feed.headers().contains_key("x-cache-status"), "{:?}", feed.headers());
    let revalidated = client
        .get(format!("{site}/feed.atom"))
        .header("accept-encoding", "gzip")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();

    // Assert: nginx answers the revalidation from its cache.
    assert_eq!(revalidated.status(), 304, "{:?}", revalidated.headers());
    assert_eq!(header(revalidated.headers(), "etag"), etag);
    assert_eq!(header(revalidated.headers(), "x-cache-status"), "HIT");

    // Discovery names the account at the proxy's address, port included.
    let acct = format!("acct:news@127.0.0.1:{port}");
    let webfinger = client.get(format!("{site}/.well-known/webfinger?resource={acct}")).send().await.unwrap();
    assert_eq!(webfinger.status(), 200);
    let jrd: Value = webfinger.json().await.unwrap();
    assert_eq!(jrd["subject"], acct);
    let this = jrd["links"].as_array().unwrap().iter().find(|l| l["rel"] == "self").unwrap();
    assert_eq!(this["href"], format!("{base_url}users/news"));

    // A Follow signed for the proxy's Host, delivered through it.
    let remote = Remote::start().await;
    let inbox = Url::parse(&format!("{base_url}users/news/inbox")).unwrap();
    let (status, body) = remote.post_follow(&client, &inbox, &format!("{base_url}users/news")).await;
    assert!(status == 202 || status == 200, "the inbox refused the Follow through nginx: {status} {body}");
    await_followers(&first, 1).await;
    assert_eq!(second.store.follower_count().await.unwrap(), 1, "the instances share one database");

    // The API through the proxy: a 2 MiB upload passes (nginx's default
    // limit is 1 MiB), and nothing of the API is cached.
    let token = crate::api::token(&first, "cms", false).await;
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.resize(2 * 1024 * 1024, b'0');
    let upload = client
        .post(format!("{site}/api/media?path=docs/rapport.pdf"))
        .bearer_auth(&token)
        .body(pdf)
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), 201, "{:?}", upload.text().await);
    for _ in 0..2 {
        let listed = client.get(format!("{site}/api/articles")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(listed.status(), 200);
        assert_eq!(header(listed.headers(), "cache-control"), "no-store");
        assert!(!listed.headers().contains_key("x-cache-status"), "{:?}", listed.headers());
    }
}

/// A TCP port free on 127.0.0.1 now; nginx binds it a moment later (a tiny
/// race, as in `common::spawn_with`).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls the store until it counts `expected` followers (at most 10 s).
async fn await_followers(app: &TestApp, expected: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let count = app.store.follower_count().await.unwrap();
        if count == expected {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{count} followers, never {expected}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// nginx running `deploy/nginx.conf` in the foreground, killed on drop.
struct Nginx {
    _child: Child,
}

impl Nginx {
    /// Writes a main configuration into `prefix` that includes the deploy
    /// snippet pointed at `instances` and serving on 127.0.0.1:`port`,
    /// starts nginx on it and waits until the port answers.
    async fn start(bin: &Path, prefix: &Path, port: u16, instances: [&TestApp; 2]) -> Nginx {
        std::fs::create_dir_all(prefix).unwrap();
        let snippet = prefix.join("herald.conf");
        std::fs::write(&snippet, deploy_conf(port, instances, &prefix.join("cache"))).unwrap();
        let main_conf = prefix.join("nginx.conf");
        let error_log = prefix.join("error.log");
        let at = |name: &str| prefix.join(name).display().to_string();
        // One process, no workers: nothing outlives the child when it is
        // killed, and no worker drops to a user who cannot enter the
        // temporary directory when the tests run as root.
        std::fs::write(
            &main_conf,
            format!(
                "daemon off;\nmaster_process off;\npid {pid};\nerror_log {log} warn;\n\
                 events {{ worker_connections 256; }}\n\
                 http {{\n    access_log off;\n    client_body_temp_path {body};\n    proxy_temp_path {proxy};\n    \
                 fastcgi_temp_path {fastcgi};\n    uwsgi_temp_path {uwsgi};\n    scgi_temp_path {scgi};\n    \
                 include {snippet};\n}}\n",
                pid = at("nginx.pid"),
                log = error_log.display(),
                body = at("client_body"),
                proxy = at("proxy"),
                fastcgi = at("fastcgi"),
                uwsgi = at("uwsgi"),
                scgi = at("scgi"),
                snippet = snippet.display(),
            ),
        )
        .unwrap();
        let mut child = Command::new(bin)
            .arg("-p")
            .arg(prefix)
            .arg("-c")
            .arg(&main_conf)
            // Before the configuration is read, nginx logs to its built-in
            // path, which a non-root user cannot open.
            .arg("-e")
            .arg(&error_log)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));

        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("nginx exited with {status}:\n{}", read_log(&error_log));
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Nginx { _child: child };
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "nginx never listened on 127.0.0.1:{port}:\n{}",
                read_log(&error_log)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// `deploy/nginx.conf` with the lines its header lists rewritten for this
/// test: the two instances, the listening address and the cache directory.
fn deploy_conf(port: u16, [first, second]: [&TestApp; 2], cache: &Path) -> String {
    let path: PathBuf = repo().join("deploy/nginx.conf");
    let mut conf = std::fs::read_to_string(&path).unwrap();
    let loopback = |app: &TestApp| app.address.trim_start_matches("http://").to_owned();
    for (from, to) in [
        ("server herald1:8080;", format!("server {};", loopback(first))),
        ("server herald2:8080;", format!("server {};", loopback(second))),
        ("listen 80;", format!("listen 127.0.0.1:{port};")),
        ("/var/cache/nginx/herald", cache.display().to_string()),
    ] {
        assert!(conf.contains(from), "{} no longer has `{from}`, which this test rewrites", path.display());
        conf = conf.replace(from, &to);
    }
    conf
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("(no error log: {e})"))
}

/// A remote server with one actor, `alice`, whose key signs the Follow, and
/// an inbox that takes herald's Accept.
struct Remote {
    base: String,
    key: StoredKey,
}

impl Remote {
    async fn start() -> Remote {
        let key = keys::generate().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let actor = json!({
            "@context": ["https://www.w3.org/ns/activitystreams", "https://w3id.org/security/v1"],
            "id": format!("{base}/users/alice"),
            "type": "Person",
            "preferredUsername": "alice",
            "inbox": format!("{base}/users/alice/inbox"),
            "publicKey": {
                "id": format!("{base}/users/alice#main-key"),
                "owner": format!("{base}/users/alice"),
                "publicKeyPem": key.public_pem,
            }
        });
        let router = Router::new()
            .route("/users/alice", get(move || async move { axum::Json(actor.clone()) }))
            .route("/users/alice/inbox", post(|| async { axum::http::StatusCode::ACCEPTED }));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Remote { base, key }
    }

    /// POSTs a Follow of `object` to `inbox`, signed for `inbox`'s host and
    /// port as a client of the public site would; returns herald's answer.
    async fn post_follow(&self, client: &reqwest::Client, inbox: &Url, object: &str) -> (u16, String) {
        let actor = format!("{}/users/alice", self.base);
        let body = serde_json::to_vec(&json!({
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": format!("{}/follows/1", self.base),
            "type": "Follow",
            "actor": actor,
            "object": object,
        }))
        .unwrap();
        let pair = keys::signing_key(&self.key).unwrap();
        let mut request = client.post(inbox.clone()).body(body.clone());
        for (name, value) in
            signature::sign(&pair, &format!("{actor}#main-key"), "POST", inbox, Some(&body), Utc::now()).unwrap()
        {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }
}
