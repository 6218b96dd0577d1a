//! Rendering benchmark: a 50-item and a 1,000-item feed in each format,
//! plus the snapshot work done once per publish (render + gzip + brotli).
//!
//! `cargo bench --bench render` prints the median time per render over a
//! bounded number of runs (at most 200 runs or about 3 s per case).

use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use chrono::{TimeDelta, TimeZone, Utc};
use herald::article::{Article, ArticleId, Image, Kind, Language, Slug, State, Tag};
use herald::config::Settings;
use herald::http::representation::Representation;
use herald::render::{self, Content, FeedView, Format, Scope};
use url::Url;

fn articles(count: usize) -> Vec<Article> {
    let env = [("HERALD_SERVER__BASE_URL".to_owned(), "https://news.example.org/".to_owned())];
    let channel = Settings::load_with_env(None, env).expect("default settings").channel;
    let paragraph = "<p>Dans des clips vidéo largement partagés sur les médias sociaux, on peut voir des dizaines \
        de cadavres gisant dans le désert, entourés de débris calcinés de véhicules, certains fumant encore. \
        Le 27 juillet, un convoi militaire malien soutenu par des mercenaires russes est tombé dans une embuscade.</p>\n";
    let start = Utc.with_ymd_and_hms(2024, 8, 5, 8, 0, 0).single().expect("valid date");
    (0..count)
        .map(|i| {
            let slug = Slug::parse(&format!("article-{i}")).expect("valid slug");
            let published = start - TimeDelta::hours(i64::try_from(i).unwrap_or(0));
            Article {
                id: ArticleId::parse(&format!("urn:uuid:00000000-0000-4000-8000-{i:012}")).expect("valid id"),
                url: channel.article_url(&slug),
                slug,
                kind: if i % 4 == 3 { Kind::Teaser } else { Kind::Full },
                title: format!("Article numéro {i} : l’embuscade de Tin Zaouatine"),
                summary: "Le 27 juillet, un convoi malien et Wagner sont tombés dans une embuscade.".into(),
                body_html: (i % 4 != 3).then(|| paragraph.repeat(8)),
                authors: vec!["La rédaction".into()],
                language: Language::parse("fr").expect("valid language"),
                tags: vec![Tag::parse("mali").expect("valid tag"), Tag::parse("sahel").expect("valid tag")],
                image: (i % 2 == 0).then(|| Image {
                    url: Url::parse(&format!("https://news.example.org/img/{i}.jpg")).expect("valid url"),
                    alt: "Une carte du nord du Mali".into(),
                    media_type: "image/jpeg".into(),
                    length: Some(48_213),
                    width: Some(1200),
                    height: Some(800),
                }),
                license: None,
                published,
                updated: published,
                state: State::Published,
            }
        })
        .collect()
}

fn measure(name: &str, mut f: impl FnMut() -> usize) {
    let mut times = Vec::new();
    let budget = Instant::now();
    let mut bytes = 0;
    while times.len() < 200 && budget.elapsed() < Duration::from_secs(3) {
        let start = Instant::now();
        bytes = black_box(f());
        times.push(start.elapsed());
    }
    times.sort();
    let median = times[times.len() / 2];
    println!("{name:<34} {:>10.3} ms  ({} runs, {bytes} bytes)", median.as_secs_f64() * 1e3, times.len());
}

fn main() {
    let env = [("HERALD_SERVER__BASE_URL".to_owned(), "https://news.example.org/".to_owned())];
    let channel = Settings::load_with_env(None, env).expect("default settings").channel;
    for count in [50, 1000] {
        let articles = articles(count);
        for format in Format::ALL {
            measure(&format!("render {} items {}", count, format.extension()), || {
                render::feed(format, &channel, &FeedView::current(Scope::All, Content::Full), &articles).len()
            });
        }
        measure(&format!("snapshot {count} items atom+gz+br"), || {
            let body = render::feed(Format::Atom, &channel, &FeedView::current(Scope::All, Content::Full), &articles);
            let rep = Representation::new(StatusCode::OK, "application/atom+xml", body, Utc::now(), 300);
            rep.body().len()
        });
    }
}
