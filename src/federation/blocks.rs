//! Domain blocks: a blocked domain, and which hosts it covers.
//!
//! A block covers the domain and every subdomain (blocking
//! `example.social` blocks `media.example.social` too), as Mastodon's
//! domain blocks do: a server and its media or relay hosts go together,
//! and a block a subdomain could dodge would be no block. Ports do not
//! matter: `example.social:8443` is `example.social`.

use url::Url;

/// A domain name as blocked: lower case, no trailing dot, no port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Domain(String);

impl Domain {
    /// Parses `example.social` (also accepted: upper case, a trailing dot,
    /// or a URL such as `https://example.social/@alice`, whose host is taken).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let host = match Url::parse(raw) {
            Ok(url) if url.has_host() && url.scheme() != "mailto" => url.host_str().unwrap_or_default().to_owned(),
            _ => raw.to_owned(),
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
            return Err(format!("{raw:?} is not a domain name: use its host, e.g. \"example.social\""));
        }
        Ok(Self(host))
    }

    /// The domain.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the block covers `host` (a host name, perhaps with a port).
    pub fn covers(&self, host: &str) -> bool {
        let host = strip_port(host).trim_end_matches('.');
        host.eq_ignore_ascii_case(&self.0)
            || (host.len() > self.0.len()
                && host.as_bytes()[host.len() - self.0.len() - 1] == b'.'
                && host[host.len() - self.0.len()..].eq_ignore_ascii_case(&self.0))
    }
}

impl std::fmt::Display for Domain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `host` and every parent domain of it, lower case, without the port:
/// `a.b.example` → `a.b.example`, `b.example`, `example`. A block on any of
/// them covers the host.
pub fn candidates(host: &str) -> Vec<String> {
    let host = strip_port(host).trim_end_matches('.').to_ascii_lowercase();
    let mut out = Vec::new();
    let mut rest = host.as_str();
    while !rest.is_empty() {
        out.push(rest.to_owned());
        match rest.split_once('.') {
            Some((_, parent)) => rest = parent,
            None => break,
        }
    }
    out
}

/// The host of a URL, if it has one.
pub fn host_of(url: &str) -> Option<String> {
    Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned))
}

fn strip_port(host: &str) -> &str {
    // IPv6 literals keep their colons: `[::1]:80`.
    if let Some(end) = host.strip_prefix('[').and_then(|h| h.find(']')) {
        return &host[..end + 2];
    }
    host.split(':').next().unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_covers_the_domain_and_its_subdomains_only() {
        let block = Domain::parse("Example.Social.").unwrap();
        assert_eq!(block.as_str(), "example.social");
        assert!(block.covers("example.social"));
        assert!(block.covers("media.EXAMPLE.social:8443"));
        assert!(!block.covers("notexample.social"));
        assert!(!block.covers("example.social.evil"));
        assert!(!block.covers("social"));
    }

    #[test]
    fn urls_give_their_host_and_junk_is_refused() {
        assert_eq!(Domain::parse("https://example.social/@alice").unwrap().as_str(), "example.social");
        assert!(Domain::parse("").is_err());
        assert!(Domain::parse("exa mple.social").is_err());
        assert!(Domain::parse("-bad.example").is_err());
    }

    #[test]
    fn candidates_walk_up_to_the_last_label() {
        assert_eq!(candidates("a.B.example:80"), ["a.b.example", "b.example", "example"]);
    }
}
