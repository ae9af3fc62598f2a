//! The `Repo` contract, run against every implementation.

use crate::common;

use std::sync::Arc;

use stratus::db::{Repo, SnapshotBatch, SqliteRepo, UserRecord};
use stratus::domain::{AltText, BlobKey, Caption, ImageKind, Photo, PhotoId, User, UserId, Username};

fn user(name: &str) -> User {
    User {
        id: UserId::from_ulid(ulid::Ulid::new()),
        username: Username::parse(name).expect("name"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: 1_700_000_000,
    }
}

fn photo(owner: &User, id: PhotoId, caption: &str) -> Photo {
    Photo {
        id,
        owner_id: owner.id,
        owner: owner.username.clone(),
        caption: Caption::parse(caption).expect("caption"),
        alt: AltText::parse(&format!("alt of {caption}")).expect("alt"),
        kind: ImageKind::Webp,
        width: 1200,
        height: 1600,
        bytes: 123_456,
        key: BlobKey::original(id, "webp"),
        thumb_key: BlobKey::thumbnail(id),
        created_at: 1_700_000_100,
    }
}

pub async fn repo_contract(repo: Arc<dyn Repo>) {
    repo.ping().await.expect("ping");
    let alice = user("alice");
    assert_eq!(repo.insert_user(&alice).await.expect("insert"), Ok(()));
    let mut twin = user("ALICE");
    assert!(repo.insert_user(&twin).await.expect("insert").is_err(), "names are unique ignoring case");
    twin.username = Username::parse("bob").expect("name");
    assert_eq!(repo.insert_user(&twin).await.expect("insert"), Ok(()));

    let found = repo.user_by_name(&Username::parse("Alice").expect("n")).await.expect("get").expect("found");
    assert_eq!((found.id, found.password_hash.as_str()), (alice.id, alice.password_hash.as_str()));
    assert_eq!(found.username.as_str(), "alice", "stored spelling kept");
    assert!(repo.user_by_name(&Username::parse("carol").expect("n")).await.expect("get").is_none());
    assert_eq!(repo.user_by_id(twin.id).await.expect("get").map(|u| u.username), Some(twin.username.clone()));

    // The admin role: nobody holds it until granted; grant and revoke are idempotent, match
    // the name ignoring case, touch only that user, and answer false for an unknown name.
    assert!(!repo.is_admin(alice.id).await.expect("role"), "a new user is not an admin");
    assert!(!repo.is_admin(UserId::from_ulid(ulid::Ulid::new())).await.expect("role"), "unknown id");
    let alice_upper = Username::parse("ALICE").expect("n");
    assert!(repo.set_admin(&alice_upper, true).await.expect("grant"));
    assert!(repo.set_admin(&alice_upper, true).await.expect("grant again"), "granting twice still finds her");
    assert!(repo.is_admin(alice.id).await.expect("role"));
    assert!(!repo.is_admin(twin.id).await.expect("role"), "only the named user");
    assert!(!repo.set_admin(&Username::parse("carol").expect("n"), true).await.expect("grant unknown"));
    assert!(repo.set_admin(&alice.username, false).await.expect("revoke"));
    assert!(repo.set_admin(&alice.username, false).await.expect("revoke again"), "revoking twice still finds her");
    assert!(!repo.is_admin(alice.id).await.expect("role"));
    assert!(repo.set_admin(&alice.username, true).await.expect("grant for later"));

    let mut generator = ulid::Generator::new();
    let ids: Vec<PhotoId> = (0..5).map(|_| PhotoId::from_ulid(generator.generate().expect("ulid"))).collect();
    for (i, id) in ids.iter().enumerate() {
        let owner = if i % 2 == 0 { &alice } else { &twin };
        repo.insert_photo(&photo(owner, *id, &format!("caption {i} — ünïcode"))).await.expect("insert photo");
    }
    assert_eq!(repo.count_photos().await.expect("count"), 5);
    let stored = repo.photo(ids[1]).await.expect("get").expect("present");
    assert_eq!(stored, photo(&twin, ids[1], "caption 1 — ünïcode"), "round trip");
    assert!(repo.photo(PhotoId::from_ulid(ulid::Ulid::new())).await.expect("get").is_none());

    let latest: Vec<_> = repo.latest_photos(3, None).await.expect("latest").iter().map(|p| p.id).collect();
    assert_eq!(latest, vec![ids[4], ids[3], ids[2]]);
    let older: Vec<_> = repo.latest_photos(3, Some(ids[2])).await.expect("older").iter().map(|p| p.id).collect();
    assert_eq!(older, vec![ids[1], ids[0]]);
    assert!(repo.latest_photos(3, Some(ids[0])).await.expect("none older").is_empty());

    // One owner's photos (alice has 0, 2 and 4), and the way back to newer ones.
    let ids_of = |photos: Vec<Photo>| photos.iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(ids_of(repo.owner_photos(alice.id, 2, None).await.expect("hers")), vec![ids[4], ids[2]]);
    assert_eq!(ids_of(repo.owner_photos(alice.id, 2, Some(ids[2])).await.expect("older")), vec![ids[0]]);
    assert_eq!(ids_of(repo.owner_photos(twin.id, 5, None).await.expect("his")), vec![ids[3], ids[1]]);
    let nobody = UserId::from_ulid(ulid::Ulid::new());
    assert!(repo.owner_photos(nobody, 5, None).await.expect("nobody's").is_empty());
    assert_eq!(repo.newer_photo_ids(ids[1], None, 2).await.expect("newer"), vec![ids[2], ids[3]], "oldest first");
    assert_eq!(repo.newer_photo_ids(ids[0], Some(alice.id), 5).await.expect("hers"), vec![ids[2], ids[4]]);
    assert!(repo.newer_photo_ids(ids[4], None, 5).await.expect("none newer").is_empty());

    // Words rewritten; an unchanged rewrite still finds its photo; an unknown photo is false.
    let (caption, alt) = (Caption::parse("rewritten").expect("c"), AltText::parse("a new alt").expect("a"));
    assert!(repo.update_caption(ids[1], &caption, &alt).await.expect("edit"));
    assert!(repo.update_caption(ids[1], &caption, &alt).await.expect("same edit"), "unchanged still found");
    let edited = repo.photo(ids[1]).await.expect("get").expect("present");
    assert_eq!((edited.caption, edited.alt), (caption.clone(), alt.clone()));
    assert!(!repo.update_caption(PhotoId::from_ulid(ulid::Ulid::new()), &caption, &alt).await.expect("edit"));

    assert!(repo.update_password_hash(twin.id, "$argon2id$new").await.expect("password"));
    assert!(repo.update_password_hash(twin.id, "$argon2id$new").await.expect("same password"));
    assert_eq!(repo.user_by_id(twin.id).await.expect("get").map(|u| u.password_hash).as_deref(), Some("$argon2id$new"));
    assert!(!repo.update_password_hash(nobody, "$argon2id$x").await.expect("unknown user"));

    // Deleting a user takes their photo rows with them, in one step, and touches nobody else.
    let doomed = user("doomed");
    assert_eq!(repo.insert_user(&doomed).await.expect("insert"), Ok(()));
    let doomed_ids: Vec<PhotoId> = (0..3).map(|_| PhotoId::from_ulid(generator.generate().expect("ulid"))).collect();
    for id in &doomed_ids {
        repo.insert_photo(&photo(&doomed, *id, "doomed")).await.expect("insert photo");
    }
    let removed = repo.delete_user(doomed.id).await.expect("delete user").expect("existed");
    let mut removed_ids = ids_of(removed);
    removed_ids.sort();
    assert_eq!(removed_ids, doomed_ids, "the photos deleted come back, for their blobs");
    assert!(repo.user_by_id(doomed.id).await.expect("get").is_none());
    for id in &doomed_ids {
        assert!(repo.photo(*id).await.expect("get").is_none(), "photo rows gone");
    }
    assert_eq!(repo.count_photos().await.expect("count"), 5, "nobody else's photos");
    assert_eq!(repo.delete_user(doomed.id).await.expect("again"), None, "an unknown user: nothing");
    assert_eq!(repo.insert_user(&user("DOOMED")).await.expect("insert"), Ok(()), "the name is free");

    assert!(repo.delete_photo(ids[4]).await.expect("delete"));
    assert!(!repo.delete_photo(ids[4]).await.expect("delete again"), "idempotent");
    assert_eq!(repo.count_photos().await.expect("count"), 4);

    let more: Vec<_> = (0..1000)
        .map(|i| photo(&alice, PhotoId::from_ulid(generator.generate().expect("ulid")), &format!("bulk {i}")))
        .collect();
    let newest = more.last().map(|p| p.id);
    repo.insert_photos_bulk(more).await.expect("bulk");
    assert_eq!(repo.count_photos().await.expect("count"), 1004);
    assert_eq!(repo.latest_photos(1, None).await.expect("latest").first().map(|p| p.id), newest);
}

fn record(name: &str, is_admin: bool) -> UserRecord {
    let u = user(name);
    UserRecord { id: u.id, username: u.username, password_hash: u.password_hash, created_at: u.created_at, is_admin }
}

/// What `migrate-db`, `backup` and `restore` rely on: rows leave and arrive whole (hash, role,
/// id), in id order, a batch is all or nothing, and a snapshot does not see later writes.
pub async fn copy_contract(repo: Arc<dyn Repo>) {
    assert_eq!(repo.count_users().await.expect("count"), 0);
    assert!(repo.users_after(None, 10).await.expect("export").is_empty());
    let mut generator = ulid::Generator::new();
    let mut users: Vec<UserRecord> = (0..5)
        .map(|i| {
            let mut r = record(&format!("user{i}"), i == 3);
            r.id = UserId::from_ulid(generator.generate().expect("ulid"));
            r
        })
        .collect();
    // Inserted out of order: the export still comes back in id order.
    users.reverse();
    assert_eq!(repo.insert_users_bulk(users.clone()).await.expect("import"), Ok(()));
    users.reverse();
    assert_eq!(repo.count_users().await.expect("count"), 5);
    let first = repo.users_after(None, 2).await.expect("export");
    assert_eq!(first, users[..2].to_vec(), "whole rows, hash and role included, in id order");
    let rest = repo.users_after(Some(first[1].id), 10).await.expect("export");
    assert_eq!(rest, users[2..].to_vec());
    assert!(repo.is_admin(users[3].id).await.expect("role"), "the role arrives");
    assert!(repo.users_after(Some(users[4].id), 10).await.expect("export").is_empty());

    // A batch with one clash (a name taken ignoring case) writes none of its rows.
    let batch = vec![record("fresh", false), record("USER2", false)];
    assert!(repo.insert_users_bulk(batch).await.expect("import").is_err());
    assert_eq!(repo.count_users().await.expect("count"), 5, "all or nothing");
    let mut same_id = record("other", false);
    same_id.id = users[0].id;
    assert!(repo.insert_users_bulk(vec![same_id]).await.expect("import").is_err(), "an id already present");

    let photos: Vec<Photo> = (0..7)
        .map(|i| {
            let owner = &users[i % 5];
            let owner =
                User { id: owner.id, username: owner.username.clone(), password_hash: String::new(), created_at: 0 };
            photo(&owner, PhotoId::from_ulid(generator.generate().expect("ulid")), &format!("p{i}"))
        })
        .collect();
    repo.insert_photos_bulk(photos.clone()).await.expect("bulk");
    let page = repo.photos_after(None, 4).await.expect("export");
    assert_eq!(page, photos[..4].to_vec(), "oldest first, with owner names");
    assert_eq!(repo.photos_after(Some(page[3].id), 10).await.expect("export"), photos[4..].to_vec());

    // The snapshot is read in batches of 1 through a one-slot channel: a user and a photo
    // written after the first batch arrived are not in it.
    let (sink, mut batches) = tokio::sync::mpsc::channel(1);
    let reader = {
        let repo = repo.clone();
        tokio::spawn(async move { repo.snapshot(1, sink).await })
    };
    let first = batches.recv().await.expect("a first batch");
    assert!(matches!(&first, SnapshotBatch::Users(rows) if rows.len() == 1 && rows[0] == users[0]));
    let late = record("late", false);
    assert_eq!(repo.insert_users_bulk(vec![late.clone()]).await.expect("write during snapshot"), Ok(()));
    let late_owner = User { id: late.id, username: late.username.clone(), password_hash: String::new(), created_at: 0 };
    let late_photo = photo(&late_owner, PhotoId::from_ulid(ulid::Ulid::new()), "late");
    repo.insert_photo(&late_photo).await.expect("write during snapshot");
    let (mut seen_users, mut seen_photos) = (vec![users[0].clone()], Vec::new());
    while let Some(batch) = batches.recv().await {
        match batch {
            SnapshotBatch::Users(rows) => seen_users.extend(rows),
            SnapshotBatch::Photos(rows) => {
                assert_eq!(seen_users.len(), 5, "every user comes before any photo");
                seen_photos.extend(rows)
            }
        }
    }
    assert_eq!(reader.await.expect("join").expect("snapshot"), (5, 7));
    assert_eq!(seen_users, users, "the snapshot's users: not the late one");
    assert_eq!(seen_photos, photos, "the snapshot's photos: not the late one");
    assert_eq!(repo.count_users().await.expect("count"), 6, "the late write did commit");
}

#[tokio::test]
async fn sqlite_repo_meets_the_copy_contract() {
    let dir = tempfile::tempdir().expect("dir");
    let repo = SqliteRepo::open(&dir.path().join("copy.db"), 2).await.expect("open");
    copy_contract(Arc::new(repo)).await;
}

#[tokio::test]
async fn mysql_repo_meets_the_copy_contract() {
    common::needs!(Mysql);
    let url = common::services::fresh_mysql_database().await;
    let repo = stratus::db::MysqlRepo::open(&url).await.expect("open mysql");
    copy_contract(Arc::new(repo)).await;
}

#[tokio::test]
async fn sqlite_repo_meets_the_contract() {
    let dir = tempfile::tempdir().expect("dir");
    let repo = SqliteRepo::open(&dir.path().join("contract.db"), 2).await.expect("open");
    repo_contract(Arc::new(repo)).await;
}

#[tokio::test]
async fn sqlite_migrations_apply_once() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("twice.db");
    let first = SqliteRepo::open(&path, 1).await.expect("open");
    first.insert_user(&user("alice")).await.expect("insert").expect("new");
    drop(first);
    let second = SqliteRepo::open(&path, 1).await.expect("reopen migrates nothing twice");
    assert!(second.user_by_name(&Username::parse("alice").expect("n")).await.expect("get").is_some());
}

#[tokio::test]
async fn mysql_repo_meets_the_contract() {
    common::needs!(Mysql);
    let url = common::services::fresh_mysql_database().await;
    let repo = stratus::db::MysqlRepo::open(&url).await.expect("open mysql");
    repo_contract(Arc::new(repo)).await;
}

#[tokio::test]
async fn mysql_repo_over_tls_meets_the_contract() {
    common::needs!(MysqlTls);
    // The URL does not ask for TLS; the server (--require-secure-transport=ON) does.
    let url = common::services::fresh_mysql_tls_database().await;
    let repo = stratus::db::MysqlRepo::open_with(&url, &common::services::tls_trust()).await.expect("open over TLS");
    repo_contract(Arc::new(repo)).await;
    let asked = format!("{url}?require_ssl=true");
    stratus::db::MysqlRepo::open_with(&asked, &common::services::tls_trust()).await.expect("asked for TLS");
}

#[tokio::test]
async fn mysql_migrations_apply_once_when_instances_start_together() {
    common::needs!(Mysql);
    let url = common::services::fresh_mysql_database().await;
    let opens = (0..4).map(|_| stratus::db::MysqlRepo::open(&url));
    let repos = futures::future::join_all(opens).await;
    assert!(repos.iter().all(Result::is_ok), "every instance starts");
    let pool = mysql_async::Pool::new(url.as_str());
    let mut conn = pool.get_conn().await.expect("conn");
    let applied: Vec<String> =
        mysql_async::prelude::Queryable::query(&mut conn, "SELECT name FROM schema_migrations").await.expect("query");
    assert_eq!(
        applied,
        vec!["0001_init.sql".to_owned(), "0002_admin_role.sql".to_owned(), "0003_alt_text.sql".to_owned()]
    );
}
