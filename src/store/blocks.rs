//! The `domain_blocks` table, and what a block does to the other tables.
//!
//! Which hosts a block covers is decided in Rust ([`Domain::covers`]), not
//! with SQL `LIKE` patterns, which cannot tell a host from a path. Blocking
//! is rare, so reading the distinct follower and pending-job inboxes once
//! is fine; the hot paths ask [`Store::is_blocked`] (one indexed lookup)
//! or read the few blocked domains once per claim.

use std::collections::HashSet;

use chrono::{DateTime, Utc};

use super::bookkeeping::{invalidate, Invalidation};
use super::{on_pool, on_tx, Store, Time};
use crate::error::StoreError;
use crate::federation::blocks::{candidates, host_of, Domain};

/// What `herald block add` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockReport {
    /// Whether the domain was not blocked already.
    pub added: bool,
    /// Followers on the domain (or a subdomain) removed.
    pub followers_removed: u64,
    /// Pending delivery jobs to it marked failed ("blocked").
    pub jobs_failed: u64,
}

/// The error a job to a blocked domain is failed with.
pub const BLOCKED: &str = "blocked";

impl Store {
    /// Blocks `domain` and its subdomains, in one transaction: records the
    /// block, removes the followers whose actor or inbox is on it, and fails
    /// the pending jobs to it with the error [`BLOCKED`].
    #[tracing::instrument(skip_all, fields(domain = %domain), err)]
    pub async fn block_domain(&self, domain: &Domain, now: DateTime<Utc>) -> Result<BlockReport, StoreError> {
        let mut tx = self.begin().await?;
        let mut report = BlockReport::default();
        let followers: Vec<(String, String, Option<String>)> = on_tx!(&mut tx, conn => {
            report.added = sqlx::query(
                "INSERT INTO domain_blocks (domain, created_at) VALUES ($1, $2) ON CONFLICT (domain) DO NOTHING",
            )
            .bind(domain.as_str())
            .bind(Time(now))
            .execute(&mut *conn)
            .await?
            .rows_affected()
                > 0;
            sqlx::query_as("SELECT actor, inbox, shared_inbox FROM followers").fetch_all(&mut *conn).await?
        });
        let on_domain = |url: &str| host_of(url).is_some_and(|h| domain.covers(&h));
        let gone: Vec<String> = followers
            .into_iter()
            .filter(|(actor, inbox, shared)| {
                on_domain(actor) || on_domain(inbox) || shared.as_deref().is_some_and(on_domain)
            })
            .map(|(actor, _, _)| actor)
            .collect();
        for actor in &gone {
            on_tx!(&mut tx, conn => {
                // As when a follow ends: a later Follow id may be reused.
                sqlx::query("DELETE FROM received_activities WHERE id IN (SELECT follow_id FROM followers WHERE actor = $1)")
                    .bind(actor)
                    .execute(&mut *conn)
                    .await?;
                report.followers_removed +=
                    sqlx::query("DELETE FROM followers WHERE actor = $1").bind(actor).execute(&mut *conn).await?.rows_affected();
            });
        }
        if report.followers_removed > 0 {
            invalidate(&mut tx, &Invalidation::Followers, now).await?;
        }
        let inboxes: Vec<String> = on_tx!(&mut tx, conn => {
            sqlx::query_scalar("SELECT DISTINCT inbox FROM deliveries WHERE state = 'pending'").fetch_all(&mut *conn).await?
        });
        for inbox in inboxes.iter().filter(|i| on_domain(i)) {
            report.jobs_failed += fail_blocked_jobs(self, &mut tx, inbox, now).await?;
        }
        tx.commit().await?;
        Ok(report)
    }

    /// Lifts the block on exactly `domain`; returns whether there was one.
    /// (Followers removed by the block stay removed: they follow again.)
    pub async fn unblock_domain(&self, domain: &Domain) -> Result<bool, StoreError> {
        Ok(on_pool!(self, pool => {
            sqlx::query("DELETE FROM domain_blocks WHERE domain = $1")
                .bind(domain.as_str())
                .execute(pool)
                .await?
                .rows_affected()
        }) > 0)
    }

    /// Every blocked domain and when it was blocked, by name.
    pub async fn blocked_domains(&self) -> Result<Vec<(Domain, DateTime<Utc>)>, StoreError> {
        let rows: Vec<(String, Time)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT domain, created_at FROM domain_blocks ORDER BY domain").fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(domain, at)| {
                Domain::parse(&domain)
                    .map(|d| (d, at.0))
                    .map_err(|message| StoreError::Corrupt { id: format!("domain_blocks {domain}"), message })
            })
            .collect()
    }

    /// Whether `host` (a host name, perhaps with a port) is on a blocked
    /// domain: one indexed lookup of the host and its parent domains.
    pub async fn is_blocked(&self, host: &str) -> Result<bool, StoreError> {
        let names = candidates(host);
        if names.is_empty() {
            return Ok(false);
        }
        let list: Vec<String> = (1..=names.len()).map(|n| format!("${n}")).collect();
        let sql = format!("SELECT COUNT(*) FROM domain_blocks WHERE domain IN ({})", list.join(", "));
        let found: i64 = on_pool!(self, pool => {
            let mut query = sqlx::query_scalar(&sql);
            for name in &names {
                query = query.bind(name);
            }
            query.fetch_one(pool).await?
        });
        Ok(found > 0)
    }

    /// Fails the claimed jobs among `jobs` (id, inbox) whose inbox is on a
    /// blocked domain, and returns their ids. Catches what was queued after
    /// a block (by another instance in the middle of it, or to a shared
    /// inbox on a blocked host), and a job whose attempt was in flight
    /// during the block and came back for a retry.
    pub(super) async fn fail_blocked<'a>(
        &self,
        jobs: impl Iterator<Item = (i64, &'a str)>,
        now: DateTime<Utc>,
    ) -> Result<HashSet<i64>, StoreError> {
        let blocked = self.blocked_domains().await?;
        if blocked.is_empty() {
            return Ok(HashSet::new());
        }
        let refused: HashSet<i64> = jobs
            .filter(|(_, inbox)| host_of(inbox).is_some_and(|host| blocked.iter().any(|(d, _)| d.covers(&host))))
            .map(|(id, _)| id)
            .collect();
        if refused.is_empty() {
            return Ok(refused);
        }
        let mut ids: Vec<i64> = refused.iter().copied().collect();
        ids.sort_unstable();
        let mut tx = self.begin().await?;
        for id in &ids {
            on_tx!(&mut tx, conn => {
                sqlx::query(
                    "UPDATE deliveries SET state = 'failed', last_error = $2, locked_until = NULL, updated_at = $3 \
                     WHERE id = $1 AND state = 'pending'",
                )
                .bind(id)
                .bind(BLOCKED)
                .bind(Time(now))
                .execute(&mut *conn)
                .await?;
            });
        }
        tx.commit().await?;
        tracing::info!(jobs = ids.len(), "deliveries to blocked domains failed");
        Ok(refused)
    }

    /// Blocked domains, for the metrics.
    pub async fn domain_block_count(&self) -> Result<i64, StoreError> {
        self.count("SELECT COUNT(*) AS n FROM domain_blocks").await
    }
}

/// Fails the pending jobs to `inbox`, claimed ones included: an attempt in
/// flight still records its outcome, and comes back to [`Store::fail_blocked`]
/// if that is a retry.
async fn fail_blocked_jobs(
    store: &Store,
    tx: &mut super::Tx,
    inbox: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let sql = format!(
        "UPDATE deliveries SET state = 'failed', last_error = $2, locked_until = NULL, updated_at = $3 WHERE {}",
        store.in_id_order("inbox = $1 AND state = 'pending'")
    );
    Ok(on_tx!(tx, conn => {
        sqlx::query(&sql).bind(inbox).bind(BLOCKED).bind(Time(now)).execute(&mut *conn).await?.rows_affected()
    }))
}
