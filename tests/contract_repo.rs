//! The `Repo` contract, run against every implementation.

mod common;

use std::sync::Arc;

use stratus::db::{Repo, SqliteRepo};
use stratus::domain::{BlobKey, Caption, ImageKind, Photo, PhotoId, User, UserId, Username};

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
    let url = common::services::fresh_mysql_database().await;
    let repo = stratus::db::MysqlRepo::open(&url).await.expect("open mysql");
    repo_contract(Arc::new(repo)).await;
}

#[tokio::test]
async fn mysql_migrations_apply_once_when_instances_start_together() {
    let url = common::services::fresh_mysql_database().await;
    let opens = (0..4).map(|_| stratus::db::MysqlRepo::open(&url));
    let repos = futures::future::join_all(opens).await;
    assert!(repos.iter().all(Result::is_ok), "every instance starts");
    let pool = mysql_async::Pool::new(url.as_str());
    let mut conn = pool.get_conn().await.expect("conn");
    let applied: Vec<String> =
        mysql_async::prelude::Queryable::query(&mut conn, "SELECT name FROM schema_migrations").await.expect("query");
    assert_eq!(applied, vec!["0001_init.sql".to_owned(), "0002_admin_role.sql".to_owned()]);
}
