//! `herald token create | list | revoke`: the API's bearer tokens.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::api::token;
use crate::store::{Store, TokenRow};

/// `herald token create --name NAME [--read-only]`: prints the token once.
pub async fn create(store: &Store, name: &str, read_only: bool) -> anyhow::Result<ExitCode> {
    let name = name.trim();
    if name.is_empty() || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        anyhow::bail!("--name: give the token a name without spaces, e.g. --name cms");
    }
    let secret = token::generate().map_err(|_| anyhow::anyhow!("the system's random generator failed"))?;
    let made = store
        .create_token(name, &token::hash(&secret), read_only, chrono::Utc::now())
        .await
        .context("storing the token")?;
    if !made {
        eprintln!(
            "a token named {name:?} exists already; revoke it first (herald token revoke {name}) or pick another name"
        );
        return Ok(ExitCode::FAILURE);
    }
    println!("{secret}");
    eprintln!(
        "token {name:?} ({}) made; it is shown only this once: keep it in the CMS's secrets \
         and send it as `Authorization: Bearer …`",
        if read_only { "read-only" } else { "read and write" }
    );
    Ok(ExitCode::SUCCESS)
}

/// `herald token list`: names and dates, never secrets.
pub fn list(tokens: &[TokenRow]) -> String {
    let mut out = format!("{:<20} {:<10} {:<20} {:<20} {}\n", "name", "access", "created", "last used", "revoked");
    let day = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map_or_else(|| "-".to_owned(), |t| t.format("%Y-%m-%d %H:%M").to_string())
    };
    for t in tokens {
        out.push_str(&format!(
            "{:<20} {:<10} {:<20} {:<20} {}\n",
            t.name,
            if t.read_only { "read" } else { "write" },
            day(Some(t.created_at)),
            day(t.last_used_at),
            day(t.revoked_at)
        ));
    }
    out
}
