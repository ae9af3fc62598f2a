//! `stratus migrate-db`, `backup`, `restore` and `check` as an operator runs them: the real
//! binary against real MariaDB and SeaweedFS (S3).

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};

use common::{PASSWORD, TestApp, fixture, services};
use figment::Figment;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use stratus::db::Repo;

/// The binary with no inherited settings but `env`.
fn stratus(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stratus"));
    for (key, _) in std::env::vars() {
        if key.starts_with("ROCKET_") || key == "STRATUS_LEVEL" {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(dir).args(args).env("STRATUS_LOG", "error").env("ROCKET_DATA_DIR", dir.join("data"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn said(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = stratus(dir, args, env).output().expect("run stratus");
    (output.status.code(), said(&output))
}

/// A fleet-profile site on `database_url` and `storage_url` (Redis sessions, shared secret).
fn fleet_figment(dir: &Path, database_url: &str, storage_url: &str) -> Figment {
    common::base_figment(dir)
        .merge(("database_url", database_url))
        .merge(("storage_url", storage_url))
        .merge(("cache_url", services::redis_url()))
        .merge(("session_url", services::redis_url()))
        .merge(("key_prefix", services::unique("t:") + ":"))
        .merge(("secret_key", "fleet-test-secret-key-shared-by-all-instances"))
        .select("fleet")
}

async fn api_photos(client: &Client) -> Vec<serde_json::Value> {
    let api: serde_json::Value = client.get("/api/photos?limit=100").dispatch().await.into_json().await.expect("json");
    api["photos"].as_array().expect("photos").clone()
}

/// Every photo's original and thumbnail, by photo id, as `site` serves them.
async fn served(site: &TestApp) -> HashMap<String, (Vec<u8>, Vec<u8>)> {
    let mut bytes = HashMap::new();
    for photo in api_photos(&site.client).await {
        let (s1, _, original) = site.fetch(photo["url"].as_str().expect("url")).await;
        let (s2, _, thumb) = site.fetch(photo["thumbnail_url"].as_str().expect("thumb")).await;
        assert_eq!((s1, s2), (200, 200), "{photo}");
        bytes.insert(photo["id"].as_str().expect("id").to_owned(), (original, thumb));
    }
    bytes
}

async fn mysql_exec(url: &str, sql: &str) {
    use mysql_async::prelude::Queryable;
    let pool = mysql_async::Pool::new(url);
    pool.get_conn().await.expect("conn").query_drop(sql).await.expect(sql);
    pool.disconnect().await.ok();
}

/// The commands of the README's "Moving up a level with your data" section, with its example
/// URLs replaced by this test's.
fn readme_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README");
    let section = readme.split("## Moving up a level with your data").nth(1).expect("the README section");
    let block = section.split("```sh\n").nth(1).and_then(|b| b.split("```").next()).expect("a sh block");
    block.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_owned).collect()
}

/// Level 0 → fleet, by the README: the rows move to MariaDB, the photos to S3, and a fleet
/// instance serves the same accounts (old passwords), photos, ids and bytes. Then: a rerun
/// copies nothing; a destination holding other data is refused, naming the row; the way back
/// to SQLite works too.
#[rocket::async_test]
async fn a_level_0_site_moves_to_the_fleet_by_the_readme_and_back() {
    let t = TestApp::single().await;
    assert_eq!(t.register("mover").await, Status::SeeOther);
    t.upload("a.jpg", &fixture("valid", "progressive.jpg"), "first").await;
    t.upload("b.png", &fixture("valid", "alpha.png"), "second").await;
    stratus::service::Accounts::set_admin_in(
        t.app().backends.repo.as_ref(),
        &stratus::domain::Username::parse("mover").expect("name"),
        true,
    )
    .await
    .expect("grant");
    let before = served(&t).await;
    assert_eq!(before.len(), 2);

    let sqlite = format!("sqlite://{}", t.dir.path().join("stratus.db").display());
    let mysql = services::fresh_mysql_database().await;
    let s3 = format!("s3://{}/{}", services::s3_bucket(), services::unique("level-"));
    let photos_dir = format!("file://{}", t.photos_dir().display());
    let backup_dir = t.dir.path().join("backup");
    let replace = |line: &str| {
        line.replace("/var/backups/stratus", &backup_dir.display().to_string())
            .replace("sqlite://data/stratus.db", &sqlite)
            .replace("mysql://stratus:secret@db.internal:3306/stratus", &mysql)
            .replace("s3://my-bucket/photos", &s3)
            .replace("file://data/photos", &photos_dir)
    };
    let mut env: Vec<(String, String)> = vec![("ROCKET_DATA_DIR".into(), t.dir.path().display().to_string())];
    let commands = readme_commands();
    assert!(commands.iter().any(|c| c.starts_with("stratus migrate-db")), "{commands:?}");
    for line in &commands {
        let line = replace(line);
        if let Some(exports) = line.strip_prefix("export ") {
            for pair in exports.split_whitespace() {
                let (k, v) = pair.split_once('=').expect("KEY=VALUE");
                env.push((k.to_owned(), v.to_owned()));
            }
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[0], "stratus", "{line}");
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (code, said) = run(t.dir.path(), &words[1..], &env);
        assert_eq!(code, Some(0), "{line}: {said}");
        if words[1] == "backup" {
            assert!(said.contains("backed up 1 users, 2 photos, 4 blobs (4 fetched now"), "{said}");
        }
        if words[1] == "check" {
            assert!(
                said.contains("checked 2 rows and 4 blobs: 0 missing, 0 orphans found, 0 leftovers found"),
                "{said}"
            );
        }
        if words[1] == "migrate-db" {
            assert!(said.contains("users: 1 rows, 1 copied now, verified"), "{said}");
            assert!(said.contains("photos: 2 rows, 2 copied now, verified"), "{said}");
        }
    }

    // A fleet instance on the moved data: the old password works, the role came along, every
    // photo is served with the same id and bytes.
    let dir = tempfile::tempdir().expect("dir");
    let fleet = TestApp {
        client: Client::tracked(stratus::app(fleet_figment(dir.path(), &mysql, &s3))).await.expect("fleet app"),
        dir,
    };
    assert_eq!(fleet.login("mover", PASSWORD).await, Status::SeeOther, "the old password works");
    assert_eq!(fleet.login("mover", "not the password").await, Status::Unauthorized);
    let mover = fleet.app().backends.repo.user_by_name(&stratus::domain::Username::parse("mover").expect("n")).await;
    let mover = mover.expect("query").expect("moved");
    assert!(fleet.app().backends.repo.is_admin(mover.id).await.expect("role"), "the admin role moved");
    assert_eq!(served(&fleet).await, before, "same ids, same bytes");

    // Nothing left to do: a rerun copies nothing and agrees.
    let (code, said) = run(t.dir.path(), &["migrate-db", "--from", &sqlite, "--to", &mysql], &[]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("copied 0 rows") && said.contains("agree"), "{said}");

    // A destination whose photo differs is refused, naming that photo; nothing is overwritten.
    let first_id = fleet.app().backends.repo.photos_after(None, 1).await.expect("rows")[0].id.to_string();
    mysql_exec(&mysql, &format!("UPDATE photos SET caption = 'changed' WHERE id = '{first_id}'")).await;
    let (code, said) = run(t.dir.path(), &["migrate-db", "--from", &sqlite, "--to", &mysql], &[]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains(&format!("photo {first_id}")) && said.contains("different"), "{said}");
    assert_eq!(said.lines().filter(|l| l.starts_with("stratus:")).count(), 1, "one line says why: {said}");
    let caption = fleet
        .app()
        .backends
        .repo
        .photo(first_id.parse().map_err(|_| ()).map(stratus::domain::PhotoId::from_ulid).expect("id"))
        .await;
    assert_eq!(caption.expect("q").expect("row").caption.as_str(), "changed", "left as it was");

    // And back: MariaDB → a new SQLite file, the same rows (the changed caption included).
    let back = format!("sqlite://{}", t.dir.path().join("back.db").display());
    let (code, said) = run(t.dir.path(), &["migrate-db", "--from", &mysql, "--to", &back], &[]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("users: 1 rows, 1 copied now") && said.contains("photos: 2 rows, 2 copied now"), "{said}");

    // Bad input: one line naming it, and no destination file is made.
    let nowhere = t.dir.path().join("never.db");
    let (code, said) = run(
        t.dir.path(),
        &["migrate-db", "--from", "mysql://root@127.0.0.1:1/none", "--to", &format!("sqlite://{}", nowhere.display())],
        &[],
    );
    assert_eq!(code, Some(2), "{said}");
    assert!(said.starts_with("stratus: config key `--from`") && said.lines().count() == 1, "{said}");
    assert!(!nowhere.exists(), "an unreachable source leaves no destination behind");
    let (code, said) = run(t.dir.path(), &["migrate-db", "--from", "postgres://x/y", "--to", &back], &[]);
    assert_eq!(code, Some(2));
    assert!(said.contains("config key `--from`: unknown scheme \"postgres\""), "{said}");
}

/// A copy killed part way leaves whole batches; the rerun copies the rest and verifies; a
/// destination holding a user the source does not have is refused, naming that user.
#[rocket::async_test]
async fn a_killed_migration_resumes_and_another_sites_database_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("big.db");
    let source = stratus::db::SqliteRepo::open(&path, 2).await.expect("sqlite");
    let owner = stratus::domain::User {
        id: stratus::domain::UserId::from_ulid(ulid::Ulid::new()),
        username: stratus::domain::Username::parse("owner").expect("n"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: 1_700_000_000,
    };
    source.insert_user(&owner).await.expect("q").expect("user");
    let mut generator = ulid::Generator::new();
    const ROWS: u64 = 40_000;
    let photos: Vec<_> = (0..ROWS)
        .map(|i| {
            let id = stratus::domain::PhotoId::from_ulid(generator.generate().expect("ulid"));
            stratus::domain::Photo {
                id,
                owner_id: owner.id,
                owner: owner.username.clone(),
                caption: stratus::domain::Caption::parse(&format!("row {i}")).expect("caption"),
                kind: stratus::domain::ImageKind::Jpeg,
                width: 10,
                height: 10,
                bytes: 100,
                key: stratus::domain::BlobKey::original(id, "jpg"),
                thumb_key: stratus::domain::BlobKey::thumbnail(id),
                created_at: 1_700_000_000,
            }
        })
        .collect();
    source.insert_photos_bulk(photos).await.expect("rows");
    drop(source);
    let from = format!("sqlite://{}", path.display());
    let to = services::fresh_mysql_database().await;
    let destination = stratus::db::MysqlRepo::open(&to).await.expect("mysql");

    let mut child = stratus(dir.path(), &["migrate-db", "--from", &from, "--to", &to], &[])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let mut copied = 0;
    for _ in 0..3000 {
        copied = destination.count_photos().await.expect("count");
        if copied >= 2000 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.kill().expect("kill");
    child.wait().expect("reaped");
    let left = destination.count_photos().await.expect("count");
    assert!(copied >= 2000 && left < ROWS, "killed part way: {left} of {ROWS}");
    assert_eq!(left % u64::from(stratus::service::maintenance::BATCH), 0, "whole batches only: {left}");

    let (code, said) = run(dir.path(), &["migrate-db", "--from", &from, "--to", &to], &[]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains(&format!("photos: {ROWS} rows, {} copied now, verified", ROWS - left)), "{said}");
    assert_eq!(destination.count_photos().await.expect("count"), ROWS);

    let stranger = stratus::db::UserRecord {
        id: stratus::domain::UserId::from_ulid(ulid::Ulid::new()),
        username: stratus::domain::Username::parse("stranger").expect("n"),
        password_hash: "x".into(),
        created_at: 1,
        is_admin: false,
    };
    destination.insert_users_bulk(vec![stranger.clone()]).await.expect("q").expect("inserted");
    let (code, said) = run(dir.path(), &["migrate-db", "--from", &from, "--to", &to], &[]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains(&format!("user {} (stranger)", stranger.id)) && said.contains("does not"), "{said}");
}
