//! Shared set-up: `spawn_app()` and helpers.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use herald::config::Settings;
use herald::startup::Application;
use herald::store::Store;
use reqwest::header::HeaderMap;
use tempfile::TempDir;

/// The repository root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub const BASE_URL: &str = "https://news.example.org/";

/// A running herald on a free loopback port, on a fresh SQLite file, serving a
/// copy of the sample publication (plus fixtures when asked).
pub struct TestApp {
    pub address: String,
    /// `http://127.0.0.1:port` of the metrics listener.
    pub metrics_address: String,
    pub client: reqwest::Client,
    pub store: Store,
    /// The database it runs on (SQLite file or PostgreSQL).
    pub database_url: String,
    pub content_dir: PathBuf,
    pub config_file: PathBuf,
    pub dir: TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// The environment that points herald at `dir` (also used by CLI tests).
pub fn test_env(dir: &Path) -> Vec<(String, String)> {
    vec![
        ("HERALD_SERVER__BIND".into(), "127.0.0.1:0".into()),
        // Each app its own metrics port (the default, 9464, would collide).
        ("HERALD_SERVER__METRICS_BIND".into(), "127.0.0.1:0".into()),
        ("HERALD_SERVER__BASE_URL".into(), BASE_URL.into()),
        ("HERALD_FEDERATION__ALLOW_PRIVATE_ADDRESSES".into(), "true".into()),
        ("HERALD_SERVER__POLL_INTERVAL_MS".into(), "50".into()),
        ("HERALD_DATABASE__URL".into(), format!("sqlite://{}", dir.join("herald.db").display())),
        ("HERALD_CONTENT__DIR".into(), dir.join("feeds").display().to_string()),
    ]
}

/// Copies the sample publication into `dir/feeds`, plus the image fixture when `extra`.
pub fn copy_content(dir: &Path, extra: bool) -> PathBuf {
    let content = dir.join("feeds");
    std::fs::create_dir_all(&content).unwrap();
    let mut sources = vec![repo().join("feeds")];
    if extra {
        sources.push(repo().join("tests/fixtures/extra"));
    }
    for source in sources {
        for entry in std::fs::read_dir(source).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), content.join(entry.file_name())).unwrap();
        }
    }
    content
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(false, false).await
}

/// `extra`: add `tests/fixtures/extra` (an article with an image) to the
/// content; `watch`: run as `serve --watch`.
pub async fn spawn_app_with(extra: bool, watch: bool) -> TestApp {
    spawn(extra, watch, None).await
}

/// A server whose base URL is its real loopback address, so that remote
/// peers (the Fedify interop peer) can reach every URL it publishes.
pub async fn spawn_reachable_app() -> TestApp {
    spawn(false, false, Some("127.0.0.1")).await
}

/// `spawn_reachable_app`, with `host` (a name for the loopback address, such
/// as `localhost`) in its base URL: for peers that refuse IP-literal URLs.
pub async fn spawn_reachable_app_at(host: &str) -> TestApp {
    spawn(false, false, Some(host)).await
}

/// One of several instances on one shared database (`database_url`, e.g.
/// from [`crate::pg::fresh_database`]), serving on its own free loopback
/// port with `base_url` (every instance of a site has the same one).
pub async fn spawn_instance(database_url: &str, base_url: &str) -> TestApp {
    spawn_with(Setup {
        database_url: Some(database_url.to_owned()),
        base_url: Some(base_url.to_owned()),
        ..Setup::default()
    })
    .await
}

/// The database of an app that names none: a fresh SQLite file in `dir`,
/// or, when `HERALD_TEST_BACKEND=postgres` (the second pass of
/// `scripts/test.sh`), a fresh PostgreSQL database, so that every test that
/// goes through `spawn*` runs on both backends.
pub async fn default_database(dir: &Path) -> String {
    if std::env::var("HERALD_TEST_BACKEND").as_deref() == Ok("postgres") {
        if let Some(url) = crate::pg::fresh_database().await {
            return url;
        }
    }
    format!("sqlite://{}", dir.join("herald.db").display())
}

/// How `spawn_with` sets an instance up.
#[derive(Debug, Default, Clone)]
pub struct Setup {
    /// Add `tests/fixtures/extra` to the content.
    pub extra: bool,
    /// Run as `serve --watch`.
    pub watch: bool,
    /// Serve on a fixed loopback port with `http://{host}:{port}/` as base URL.
    pub reachable: Option<String>,
    /// The database (default: a fresh SQLite file in the app's directory).
    pub database_url: Option<String>,
    /// The base URL (default `BASE_URL`, or the reachable one).
    pub base_url: Option<String>,
    /// More settings, as `HERALD_*` environment variables (for the server).
    pub env: Vec<(String, String)>,
}

/// `reachable`: serve on a fixed loopback port with `http://{host}:{port}/`
/// as the base URL, instead of `BASE_URL`.
async fn spawn(extra: bool, watch: bool, reachable: Option<&str>) -> TestApp {
    spawn_with(Setup { extra, watch, reachable: reachable.map(str::to_owned), ..Setup::default() }).await
}

/// Starts an instance as `setup` says.
pub async fn spawn_with(setup: Setup) -> TestApp {
    let Setup { extra, watch, reachable, database_url, base_url: given_base_url, env: more } = setup;
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let content_dir = copy_content(dir.path(), extra);
    let mut env = test_env(dir.path());
    let database_url = match database_url {
        Some(url) => url,
        None => default_database(dir.path()).await,
    };
    env.retain(|(k, _)| k != "HERALD_DATABASE__URL");
    env.push(("HERALD_DATABASE__URL".into(), database_url.clone()));
    let mut base_url = BASE_URL.to_owned();
    if let Some(given) = given_base_url {
        base_url = given;
        env.retain(|(k, _)| k != "HERALD_SERVER__BASE_URL");
        env.push(("HERALD_SERVER__BASE_URL".into(), base_url.clone()));
    }
    if let Some(host) = reachable {
        // Pick a free port, then let herald bind it (a tiny race, acceptable in tests).
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        base_url = format!("http://{host}:{port}/");
        env.retain(|(k, _)| k != "HERALD_SERVER__BIND" && k != "HERALD_SERVER__BASE_URL");
        env.push(("HERALD_SERVER__BIND".into(), format!("127.0.0.1:{port}")));
        env.push(("HERALD_SERVER__BASE_URL".into(), base_url.clone()));
    }
    env.extend(more);
    let config_file = dir.path().join("herald.toml");
    std::fs::write(&config_file, config_toml(dir.path(), &base_url, &database_url)).unwrap();
    let settings = Settings::load_with_env(None, env).unwrap();
    let app = Application::build(settings).await.unwrap();
    let app = if watch { app.watch_content().unwrap() } else { app };
    let address = format!("http://{}", app.local_addr().unwrap());
    let metrics_address = format!("http://{}", app.metrics_addr().unwrap());
    let store = app.state().store.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        address,
        metrics_address,
        client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
        store,
        database_url,
        content_dir,
        config_file,
        dir,
        shutdown: Some(tx),
    }
}

/// The same settings as `test_env`, as a file for the `herald` binary.
fn config_toml(dir: &Path, base_url: &str, database_url: &str) -> String {
    format!(
        "[server]\nbind = \"127.0.0.1:0\"\nmetrics_bind = \"127.0.0.1:0\"\nbase_url = \"{base_url}\"\n[database]\nurl = \"{database_url}\"\n[content]\ndir = \"{}\"\n\
         [federation]\nallow_private_addresses = true\n",
        dir.join("feeds").display()
    )
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl TestApp {
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.get_with(path, &[]).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&'static str, &str)]) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.address));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.unwrap()
    }

    pub async fn text(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.text().await.unwrap()
    }

    pub async fn get_feed(&self, ext: &str) -> String {
        self.text(&format!("/feed.{ext}")).await
    }

    /// Runs the real `herald` binary against this app's database and content.
    ///
    /// Awaited, never blocking: on a test's single-threaded runtime a
    /// blocking wait would freeze the in-process server in the middle of a
    /// transaction, holding SQLite's write lock against the very command
    /// being waited for (seen as `herald publish` failing with "database is
    /// locked" after a minute).
    pub async fn herald(&self, args: &[&str]) -> Output {
        herald_awaited(self.dir.path(), &self.config_file, args).await
    }

    /// Writes a content file.
    pub fn write_content(&self, name: &str, text: &str) {
        std::fs::write(self.content_dir.join(name), text).unwrap();
    }

    pub fn read_content(&self, name: &str) -> String {
        std::fs::read_to_string(self.content_dir.join(name)).unwrap()
    }

    /// Polls `path` until `condition` holds on its body (at most 10 s).
    pub async fn await_body(&self, path: &str, condition: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let body = self.get(path).await.text().await.unwrap();
            if condition(&body) {
                return body;
            }
            assert!(tokio::time::Instant::now() < deadline, "{path} never reached the expected state:\n{body}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// [`herald_in`], awaited (see [`TestApp::herald`] for why that matters).
pub async fn herald_awaited(dir: &Path, config_file: &Path, args: &[&str]) -> Output {
    tokio::process::Command::from(herald_command(dir, config_file, args)).output().await.unwrap()
}

/// Runs the `herald` binary with `--config file` and the working directory `dir`.
pub fn herald_in(dir: &Path, config_file: &Path, args: &[&str]) -> Output {
    herald_command(dir, config_file, args).output().unwrap()
}

/// The `herald` command line with `--config file`, quiet logs, run in `dir`.
fn herald_command(dir: &Path, config_file: &Path, args: &[&str]) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_herald"));
    command.arg("--config").arg(config_file).args(args).current_dir(dir).env("HERALD_LOG", "warn");
    command
}

pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or_else(|| panic!("no {name} header"))
}

/// A validator or tool found on PATH (or in `env_var`). Under `CI=true` a
/// missing tool fails the test; locally the test is skipped, loudly.
pub fn tool(env_var: &str, name: &str) -> Option<PathBuf> {
    let candidate = std::env::var_os(env_var).map(PathBuf::from).or_else(|| {
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()))
    });
    match candidate {
        Some(path) => Some(path),
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("{name} is required under CI=true but was not found (set {env_var} or install it: bash scripts/test.sh does)")
        }
        None => {
            eprintln!(
                "\n*** SKIPPING: {name} not found (set {env_var} or run bash scripts/test.sh to install it) ***\n"
            );
            None
        }
    }
}

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt().with_env_filter("info").with_test_writer().try_init();
    }
}

/// A follower `n` at `base` (`http://host:port`) with its own inbox
/// `{base}/inbox/{n}`, for the fan-out tests' sinks.
pub fn loopback_follower(base: &str, n: usize) -> herald::store::RemoteActorRow {
    herald::store::RemoteActorRow {
        id: format!("{base}/users/{n}"),
        inbox: format!("{base}/inbox/{n}"),
        shared_inbox: None,
        key_id: String::new(),
        public_pem: String::new(),
        fetched_at: chrono::Utc::now(),
    }
}

/// The real `herald serve` binary with `--config config` in `dir`, bound to
/// 127.0.0.1:`port`; killed when dropped.
pub struct ServeProcess {
    pub child: tokio::process::Child,
    pub address: String,
}

impl ServeProcess {
    pub fn start(dir: &Path, config: &Path, port: u16) -> Self {
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
            .arg("--config")
            .arg(config)
            .arg("serve")
            .current_dir(dir)
            .env("HERALD_LOG", "warn")
            .env("HERALD_SERVER__BIND", format!("127.0.0.1:{port}"))
            .env("HERALD_SERVER__METRICS_BIND", "127.0.0.1:0")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Self { child, address: format!("http://127.0.0.1:{port}") }
    }

    /// Waits until `/healthz` answers (at most 30 s).
    pub async fn await_healthy(&mut self, client: &reqwest::Client) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !client.get(format!("{}/healthz", self.address)).send().await.is_ok_and(|r| r.status().is_success()) {
            assert!(self.child.try_wait().unwrap().is_none(), "herald at {} exited", self.address);
            assert!(tokio::time::Instant::now() < deadline, "herald at {} did not start", self.address);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Runs the checker `tests/tools/{script}` with the test Python on `args`.
/// `None` (the test is then skipped, loudly) when Python is missing, or when
/// the script exits 2 because its packages are not installed; under
/// `CI=true` that fails instead.
pub fn python_check(script: &str, args: &[&Path]) -> Option<Output> {
    let python = tool("HERALD_PYTHON", "python3")?;
    let output =
        std::process::Command::new(python).arg(repo().join("tests/tools").join(script)).args(args).output().unwrap();
    if output.status.code() == Some(2) {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{script}: {stderr}");
        eprintln!("\n*** SKIPPING: {stderr} ***\n");
        return None;
    }
    Some(output)
}
