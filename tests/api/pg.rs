//! The throwaway PostgreSQL cluster that `scripts/test.sh` starts.
//!
//! The script exports `HERALD_TEST_POSTGRES_URL`, a superuser URL of the
//! cluster's `postgres` database; every test gets its own fresh database in
//! it, so tests run in parallel without seeing each other's rows. Under
//! `CI=true` a missing cluster fails the test; locally it is skipped, loudly.

use std::sync::atomic::{AtomicU32, Ordering};

/// The admin URL of the test cluster, if there is one.
pub fn admin_url() -> Option<String> {
    match std::env::var("HERALD_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("HERALD_TEST_POSTGRES_URL is not set under CI=true: run the tests with bash scripts/test.sh, which starts PostgreSQL")
        }
        _ => {
            eprintln!(
                "\n*** SKIPPING the PostgreSQL part: HERALD_TEST_POSTGRES_URL is not set (bash scripts/test.sh starts a throwaway cluster) ***\n"
            );
            None
        }
    }
}

/// Creates an empty database in the test cluster and returns its URL.
pub async fn fresh_database() -> Option<String> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let admin = admin_url()?;
    let name = format!("herald_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
    let mut conn = connect(&admin).await;
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str()).await.expect("CREATE DATABASE");
    Some(database_url(&admin, &name))
}

/// A plain connection to `url` in the test cluster (not through herald).
pub async fn connect(url: &str) -> sqlx::PgConnection {
    let options: sqlx::postgres::PgConnectOptions = url.parse().expect("a postgres URL");
    <sqlx::PgConnection as sqlx::Connection>::connect_with(&options)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {url}: {e}"))
}

/// `admin` with its database replaced by `name`.
fn database_url(admin: &str, name: &str) -> String {
    let (base, query) = admin.split_once('?').map_or((admin, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(head, _)| head);
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

#[test]
fn database_urls_keep_host_and_options() {
    assert_eq!(database_url("postgres://postgres@127.0.0.1:5/postgres", "x"), "postgres://postgres@127.0.0.1:5/x");
    assert_eq!(database_url("postgres://u@h:5/postgres?sslmode=disable", "x"), "postgres://u@h:5/x?sslmode=disable");
}
