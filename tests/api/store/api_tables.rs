//! The publishing API's part of the store, on both backends: tokens,
//! articles written through the API (kept apart from files) and
//! idempotency keys.

use herald::article::State;
use herald::store::{ListFilter, Reservation, Saved, Store, Submission, API_SOURCE};
use pretty_assertions::assert_eq;

use super::{article, id, run, secs, sync, t0, Federation};
use herald::article::{Article, Tag};

both_backends! {
    /// Tokens are found by their hash until revoked; a revoked token frees
    /// its name, and a live name cannot be taken twice.
    async fn tokens_are_found_by_hash_until_revoked(store: Store) {
        let now = t0();
        assert!(store.create_token("cms", "h1", false, now).await.unwrap());
        assert!(!store.create_token("cms", "h2", true, now).await.unwrap(), "the name is taken");
        assert!(store.create_token("dashboard", "h3", true, now).await.unwrap());

        let cms = store.use_token("h1", now + secs(120)).await.unwrap().unwrap();
        assert_eq!((cms.name.as_str(), cms.read_only), ("cms", false));
        assert!(store.use_token("h3", now).await.unwrap().unwrap().read_only);
        assert_eq!(store.use_token("nope", now).await.unwrap(), None);
        let listed = store.tokens().await.unwrap();
        assert_eq!(listed[0].last_used_at, Some(now + secs(120)));

        assert!(store.revoke_token("cms", now + secs(200)).await.unwrap());
        assert!(!store.revoke_token("cms", now + secs(200)).await.unwrap());
        assert_eq!(store.use_token("h1", now + secs(300)).await.unwrap(), None);
        assert!(store.create_token("cms", "h4", false, now).await.unwrap(), "a revoked token frees its name");
        assert_eq!(store.tokens().await.unwrap().len(), 3);
    }

    /// An API article is stored with its Markdown and queued to followers
    /// like a file's; files cannot take its id, the API cannot write over
    /// a file's article, and `--prune` never sees it.
    async fn api_articles_and_files_keep_to_their_own(store: Store) {
        let now = t0();
        let fed = Federation::default();
        let activities = |change, article: &Article, revision| fed.activity(change, article, revision);
        let mine = article(1, "from-the-cms", "2024-08-01T08:00:00Z", &["api"]);
        let file = article(2, "from-a-file", "2024-08-02T08:00:00Z", &[]);
        sync(&store, &fed, &[&file], now).await;
        fed.take();

        let saved = store.save_api_article(&mine, Some("The body."), "cms", true, &activities, now).await.unwrap();
        assert_eq!(saved, Ok(Saved::Created));
        let again = store.save_api_article(&mine, Some("The body."), "cms", true, &activities, now).await.unwrap();
        assert_eq!(again.unwrap_err().field, "id");
        let same = store.save_api_article(&mine, Some("The body."), "cms", false, &activities, now).await.unwrap();
        assert_eq!(same, Ok(Saved::Unchanged));
        let mut retracted = mine.clone();
        retracted.state = State::Retracted;
        let saved = store.save_api_article(&retracted, Some("The body."), "cms", false, &activities, now + secs(1));
        assert_eq!(saved.await.unwrap(), Ok(Saved::Updated));
        assert_eq!(fed.take().len(), 2, "a Create, then a Delete");

        let stored = store.stored_article(&id(1)).await.unwrap().unwrap();
        assert_eq!(
            (stored.markdown.as_deref(), stored.source.as_deref(), stored.revision),
            (Some("The body."), Some(API_SOURCE), 2)
        );
        assert_eq!(store.revisions(&id(1)).await.unwrap().len(), 2);

        // A file with the API article's id is refused; so is an API write over a file's article.
        let report = store.sync(&[Submission { article: &mine, source: Some("copy.md") }], &activities, now).await;
        let conflicts = report.unwrap().conflicts;
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].field, "id");
        assert!(conflicts[0].message.contains("belongs to an article made through the API"), "{conflicts:?}");
        let over = store.save_api_article(&file, None, "cms", false, &activities, now).await.unwrap();
        assert!(over.unwrap_err().message.contains("is published from the file from-a-file"));

        // Published API articles are no file's: --prune never sees them.
        let mut republished = mine.clone();
        republished.title = "Back".into();
        store.save_api_article(&republished, Some("The body."), "cms", false, &activities, now + secs(2)).await.unwrap().unwrap();
        let tracked: Vec<String> = store.tracked_files().await.unwrap().into_iter().map(|t| t.slug).collect();
        assert_eq!(tracked, ["from-a-file"]);
    }

    /// Listings filter by state and tag and page by (published, id).
    async fn listings_filter_and_page(store: Store) {
        let now = t0();
        let fed = Federation::default();
        let mut three = article(3, "three", "2024-08-03T08:00:00Z", &["mali"]);
        three.state = State::Retracted;
        let one = article(1, "one", "2024-08-01T08:00:00Z", &["mali"]);
        let two = article(2, "two", "2024-08-02T08:00:00Z", &[]);
        sync(&store, &fed, &[&one, &two, &three], now).await;
        let slugs = |rows: Vec<herald::store::StoredArticle>| -> Vec<String> {
            rows.into_iter().map(|r| r.article.slug.to_string()).collect()
        };

        let all = store.list_articles(&ListFilter::default(), 10).await.unwrap();
        assert_eq!(slugs(all.clone()), ["three", "two", "one"]);
        let after = Some((all[0].article.published, all[0].article.id.clone()));
        let next = store.list_articles(&ListFilter { after, ..ListFilter::default() }, 1).await.unwrap();
        assert_eq!(slugs(next), ["two"]);
        let published = ListFilter { state: Some(State::Published), ..ListFilter::default() };
        assert_eq!(slugs(store.list_articles(&published, 10).await.unwrap()), ["two", "one"]);
        let mali = ListFilter { tag: Some(Tag::parse("mali").unwrap()), ..published };
        assert_eq!(slugs(store.list_articles(&mali, 10).await.unwrap()), ["one"]);
    }

    /// An idempotency key is new once, in progress until its response is
    /// recorded, then replayed; another request with it is a mismatch; an
    /// expired one is new again, and pruning deletes old ones.
    async fn idempotency_keys_replay_the_first_response(store: Store) {
        let now = t0();
        store.create_token("cms", "h1", false, now).await.unwrap();
        let token = store.tokens().await.unwrap()[0].id;
        let day = secs(86_400);
        let reserve = |key: &'static str, hash: &'static str, at| {
            let store = store.clone();
            async move { store.reserve_idempotency_key(token, key, hash, at, at - day).await.unwrap() }
        };

        assert_eq!(reserve("k", "h", now).await, Reservation::New);
        assert_eq!(reserve("k", "h", now).await, Reservation::InProgress);
        store.finish_idempotency_key(token, "k", 201, "location: /x\n", "{\"a\":1}").await.unwrap();
        assert_eq!(
            reserve("k", "h", now + secs(5)).await,
            Reservation::Replay { status: 201, headers: "location: /x\n".into(), body: "{\"a\":1}".into() }
        );
        assert_eq!(reserve("k", "other", now).await, Reservation::Mismatch);
        assert_eq!(reserve("k", "other", now + day + secs(1)).await, Reservation::New, "expired");

        assert_eq!(reserve("failed", "h", now).await, Reservation::New);
        store.release_idempotency_key(token, "failed").await.unwrap();
        assert_eq!(reserve("failed", "h", now).await, Reservation::New, "released after a 5xx");

        assert_eq!(store.prune_idempotency_keys(now + secs(1)).await.unwrap(), 1);
        assert_eq!(store.prune_idempotency_keys(now + day * 2).await.unwrap(), 1);
    }
}
