//! Golden files: the sample publication rendered by each renderer, compared
//! byte for byte. Regenerate with `HERALD_BLESS=1 cargo test golden` and
//! review the diff like code (see tests/golden/README.md).

use herald::config::Settings;
use herald::content::load_dir;
use herald::render::{self, Content, FeedView, Format, Scope};
use pretty_assertions::assert_eq;

use crate::common::{repo, BASE_URL};

#[test]
fn golden_feeds_of_the_sample_publication() {
    let env = [("HERALD_SERVER__BASE_URL".to_owned(), BASE_URL.to_owned())];
    let channel = Settings::load_with_env(None, env).unwrap().channel;
    let loaded = load_dir(&repo().join("feeds"), &channel);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let mut articles: Vec<_> = loaded.articles.into_iter().map(|a| a.article).collect();
    articles.sort_by(|a, b| b.published.cmp(&a.published).then(b.id.cmp(&a.id)));

    let bless = std::env::var_os("HERALD_BLESS").is_some();
    for format in Format::ALL {
        let actual =
            String::from_utf8(render::feed(format, &channel, &FeedView::current(Scope::All, Content::Full), &articles))
                .unwrap();
        let path = repo().join(format!("tests/golden/feed.{}", format.extension()));
        if bless {
            std::fs::write(&path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run HERALD_BLESS=1 cargo test golden", path.display()));
        assert_eq!(expected, actual, "{} differs; if intended, run HERALD_BLESS=1 cargo test golden", path.display());
    }
}
