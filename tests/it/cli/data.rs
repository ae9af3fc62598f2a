//! `stratus migrate-db`, `backup`, `restore` and `check` as an operator runs them: the real
//! binary against real MariaDB and SeaweedFS (S3).

use crate::common;

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

/// A fleet-profile site on `database_url` and `storage_url` (Redis sessions, shared secret, no CDN).
fn fleet_figment(dir: &Path, database_url: &str, storage_url: &str) -> Figment {
    common::base_figment(dir)
        .merge(("database_url", database_url))
        .merge(("storage_url", storage_url))
        .merge(("cache_url", services::redis_url()))
        .merge(("session_url", services::redis_url()))
        .merge(("key_prefix", services::unique("t:") + ":"))
        .merge(("secret_key", "fleet-test-secret-key-shared-by-all-instances"))
        // As `--level 2` (the README's next step) does: the fleet profile's CDN is level 5's.
        .merge(("media_base_url", ""))
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
    common::needs!(Mysql, S3);
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
                said.contains("checked 2 rows and 6 blobs: 0 missing, 0 orphans found, 0 leftovers found"),
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
    common::needs!(Mysql);
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
                alt: stratus::domain::AltText::default(),
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

    // Another site's database whose only row sorts after every source row: refused before a
    // single row is written into it.
    let other = services::fresh_mysql_database().await;
    let other_repo = stratus::db::MysqlRepo::open(&other).await.expect("mysql");
    other_repo.insert_users_bulk(vec![stranger.clone()]).await.expect("q").expect("inserted");
    let (code, said) = run(dir.path(), &["migrate-db", "--from", &from, "--to", &other], &[]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains(&format!("user {} (stranger)", stranger.id)), "{said}");
    assert_eq!((other_repo.count_users().await.expect("n"), other_repo.count_photos().await.expect("n")), (1, 0));
}

fn s3_store(url: &str) -> std::sync::Arc<dyn stratus::store::Store> {
    let url = stratus::config::StorageUrl::parse(url).expect("url");
    stratus::state::open_store_at("test", &url, None, std::time::Duration::from_secs(60)).expect("store")
}

/// A key the site could have written `age` ago (blob keys are named after the photo's ULID).
fn key_aged(age: std::time::Duration) -> stratus::domain::BlobKey {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock");
    let ulid = ulid::Ulid::from_parts((now - age).as_millis() as u64, rand_bits());
    stratus::domain::BlobKey::original(stratus::domain::PhotoId::from_ulid(ulid), "jpg")
}

fn rand_bits() -> u128 {
    ulid::Ulid::new().random()
}

const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

/// A backup taken while uploads keep arriving restores, into an empty MariaDB database and
/// S3 prefix, a site serving every photo of its snapshot byte for byte. A second backup
/// fetches only the new blobs; a tampered blob, a non-empty destination and a directory that
/// is not a backup are refused with nothing written; `check` on S3 finds a deleted blob and
/// an orphan.
#[rocket::async_test]
async fn a_backup_taken_during_uploads_restores_every_photo_of_its_snapshot() {
    common::needs!(Mysql, S3);
    let dir = tempfile::tempdir().expect("dir");
    let (mysql, s3) =
        (services::fresh_mysql_database().await, format!("s3://{}/{}", services::s3_bucket(), services::unique("bk-")));
    let site = TestApp {
        client: Client::tracked(stratus::app(fleet_figment(dir.path(), &mysql, &s3))).await.expect("app"),
        dir,
    };
    assert_eq!(site.register("uploader").await, Status::SeeOther);
    let jpeg = fixture("valid", "progressive.jpg");
    for i in 0..3 {
        assert_eq!(site.upload("a.jpg", &jpeg, &format!("before {i}")).await.status(), Status::SeeOther);
    }
    let env = [("ROCKET_DATABASE_URL", mysql.as_str()), ("ROCKET_STORAGE_URL", s3.as_str())];
    let backup_dir = site.dir.path().join("backup");
    let backup_arg = backup_dir.display().to_string();
    let mut child = stratus(site.dir.path(), &["backup", "--to", &backup_arg], &env)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut uploaded = 3;
    loop {
        assert_eq!(site.upload("b.jpg", &jpeg, &format!("during {uploaded}")).await.status(), Status::SeeOther);
        uploaded += 1;
        if child.try_wait().expect("wait").is_some() || uploaded >= 30 {
            break;
        }
    }
    let output = child.wait_with_output().expect("backup");
    assert!(output.status.success(), "{}", said(&output));
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&backup_dir), 0o700, "a backup holds password hashes");
    for file in walk(&backup_dir) {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(backup_dir.join("manifest.json")).expect("manifest")).expect("json");
    let in_snapshot = manifest["photos"]["rows"].as_u64().expect("rows");
    assert!((3..=uploaded).contains(&in_snapshot), "{in_snapshot} of {uploaded}");
    assert_eq!(manifest["blobs"].as_array().expect("blobs").len() as u64, 2 * in_snapshot);

    // What a backup killed before its manifest was renamed into place leaves: new tables and a
    // partial manifest. The earlier backup still restores, and the next backup clears them.
    let killed = backup_dir.join("tables-01KILLEDRUN000000000000000");
    std::fs::create_dir_all(&killed).expect("dir");
    std::fs::write(killed.join("users.jsonl"), b"{half").expect("half");
    std::fs::write(backup_dir.join("manifest.json.partial"), b"{half").expect("half");

    // Restored into an empty database and prefix: exactly the snapshot's photos, same bytes.
    let (mysql2, s3_2) =
        (services::fresh_mysql_database().await, format!("s3://{}/{}", services::s3_bucket(), services::unique("rs-")));
    let env2 = [("ROCKET_DATABASE_URL", mysql2.as_str()), ("ROCKET_STORAGE_URL", s3_2.as_str())];
    let (code, out) = run(site.dir.path(), &["restore", "--from", &backup_arg], &env2);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("restored 1 users, {in_snapshot} photos, {} blobs", 2 * in_snapshot)), "{out}");
    let dir2 = tempfile::tempdir().expect("dir");
    let restored = TestApp {
        client: Client::tracked(stratus::app(fleet_figment(dir2.path(), &mysql2, &s3_2))).await.expect("app"),
        dir: dir2,
    };
    let original = served(&site).await;
    let again = served(&restored).await;
    assert_eq!(again.len() as u64, in_snapshot);
    for (id, bytes) in &again {
        assert_eq!(Some(bytes), original.get(id), "photo {id} byte for byte");
    }
    assert_eq!(restored.login("uploader", PASSWORD).await, Status::SeeOther, "the account came back");

    // Restoring over a site is refused.
    let (code, out) = run(site.dir.path(), &["restore", "--from", &backup_arg], &env2);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("the destination is not empty"), "{out}");

    // A second backup into the same directory fetches only the blobs uploaded since.
    let (code, out) = run(site.dir.path(), &["backup", "--to", &backup_arg], &env);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("({} fetched now", 2 * (uploaded - in_snapshot))), "{out}");
    assert!(!killed.exists() && !backup_dir.join("manifest.json.partial").exists(), "the killed run's files are gone");

    // A blob changed in the backup: refused, naming it, and the destination stays empty.
    let entry = walk(&backup_dir.join("blobs")).into_iter().next().expect("a blob");
    let mut bytes = std::fs::read(&entry).expect("read");
    bytes[100] ^= 1;
    std::fs::write(&entry, bytes).expect("tamper");
    let (mysql3, s3_3) =
        (services::fresh_mysql_database().await, format!("s3://{}/{}", services::s3_bucket(), services::unique("rs-")));
    let env3 = [("ROCKET_DATABASE_URL", mysql3.as_str()), ("ROCKET_STORAGE_URL", s3_3.as_str())];
    let (code, out) = run(site.dir.path(), &["restore", "--from", &backup_arg], &env3);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("checksum fails") && out.contains(&entry.display().to_string()), "{out}");
    let repo3 = stratus::db::MysqlRepo::open(&mysql3).await.expect("mysql");
    assert_eq!((repo3.count_users().await.expect("n"), repo3.count_photos().await.expect("n")), (0, 0));
    assert!(s3_store(&s3_3).list().await.expect("list").is_empty(), "no blob written");

    // Backing up into a file, or into a directory holding something else, is refused.
    let file = site.dir.path().join("a-file");
    std::fs::write(&file, b"keep me").expect("file");
    let (code, out) = run(site.dir.path(), &["backup", "--to", &file.display().to_string()], &env);
    assert_eq!((code, out.trim()), (Some(2), format!("stratus: {} is not a directory", file.display()).as_str()));
    let (code, out) = run(site.dir.path(), &["backup", "--to", &site.dir.path().display().to_string()], &env);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("is neither empty nor a stratus backup"), "{out}");
    assert_eq!(std::fs::read(&file).expect("file"), b"keep me");

    let empty = tempfile::tempdir().expect("dir");
    let (code, out) = run(site.dir.path(), &["restore", "--from", &empty.path().display().to_string()], &env3);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("is not a stratus backup"), "{out}");
    let mut edited = manifest.clone();
    edited["tables_dir"] = serde_json::json!("../elsewhere");
    std::fs::write(empty.path().join("manifest.json"), edited.to_string()).expect("manifest");
    let (code, out) = run(site.dir.path(), &["restore", "--from", &empty.path().display().to_string()], &env3);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("is not a directory of this backup"), "a manifest cannot point outside: {out}");

    // check on S3: healthy, then a deleted blob (exit 1, named) and an old orphan.
    let (code, out) = run(site.dir.path(), &["check"], &env2);
    assert_eq!(code, Some(0), "{out}");
    let store2 = s3_store(&s3_2);
    let photo = restored.app().backends.repo.photos_after(None, 1).await.expect("rows").remove(0);
    store2.delete(&photo.thumb_key).await.expect("delete");
    let orphan = key_aged(2 * HOUR);
    store2.put(&orphan, bytes::Bytes::from_static(b"orphan").into(), "image/jpeg").await.expect("put");
    let (code, out) = run(site.dir.path(), &["check", "--repair"], &env2);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(&format!("missing blob: photo {} needs {}", photo.id, photo.thumb_key)), "{out}");
    assert!(out.contains(&format!("orphan blob (removed): {orphan}")), "{out}");
    assert!(store2.get(&orphan).await.expect("get").is_none(), "repaired");
    assert!(restored.app().backends.repo.photo(photo.id).await.expect("q").is_some(), "never a row");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        if entry.path().is_dir() {
            files.extend(walk(&entry.path()));
        } else {
            files.push(entry.path());
        }
    }
    files.sort();
    files
}

/// `check` on the single profile: a deleted blob (exit 1), an old orphan, old staging and
/// partial-blob leftovers are found; a young unreferenced blob and a young staged upload (a
/// publish in flight) are left alone; `--repair` removes only the old orphan and leftovers.
#[rocket::async_test]
async fn check_finds_a_deleted_blob_an_orphan_and_leftovers_and_repairs_only_those() {
    let t = TestApp::single().await;
    t.register("checker").await;
    let jpeg = fixture("valid", "progressive.jpg");
    t.upload("a.jpg", &jpeg, "one").await;
    t.upload("b.jpg", &jpeg, "two").await;
    let photo = t.app().backends.repo.photos_after(None, 1).await.expect("rows").remove(0);
    std::fs::remove_file(t.photos_dir().join(photo.key.as_str())).expect("delete a blob");
    let old_orphan = key_aged(2 * HOUR);
    let young_orphan = key_aged(std::time::Duration::from_secs(60));
    for key in [&old_orphan, &young_orphan] {
        std::fs::write(t.photos_dir().join(key.as_str()), b"orphan").expect("orphan");
    }
    let staging = t.dir.path().join("staging");
    let two_hours_ago = std::time::SystemTime::now() - 2 * HOUR;
    let old_staged = staging.join("upload-old");
    let young_staged = staging.join("upload-young");
    let partial = t.photos_dir().join("photos/half.jpg#3");
    for path in [&old_staged, &young_staged, &partial] {
        std::fs::write(path, b"x").expect("leftover");
    }
    for path in [&old_staged, &partial] {
        std::fs::File::options().write(true).open(path).expect("open").set_modified(two_hours_ago).expect("age");
    }
    let data = t.dir.path().display().to_string();
    let env = [("ROCKET_DATA_DIR", data.as_str())];

    let (code, out) = run(t.dir.path(), &["check"], &env);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains(&format!("missing blob: photo {} needs {}", photo.id, photo.key)), "{out}");
    assert!(out.contains(&format!("orphan blob (found): {old_orphan}")), "{out}");
    assert!(!out.contains(young_orphan.as_str()), "in flight: {out}");
    assert!(out.contains(&format!("leftover (found): {}", old_staged.display())), "{out}");
    assert!(out.contains(&format!("leftover (found): {}", partial.display())), "{out}");
    assert!(
        out.contains("checked 2 rows and 7 blobs: 1 missing, 1 orphans found, 2 leftovers found, 1 recent"),
        "{out}"
    );
    assert!(t.photos_dir().join(old_orphan.as_str()).exists(), "check alone removes nothing");

    let (code, out) = run(t.dir.path(), &["check", "--repair"], &env);
    assert_eq!(code, Some(1), "a missing blob is still reported: {out}");
    assert!(!t.photos_dir().join(old_orphan.as_str()).exists() && !old_staged.exists() && !partial.exists(), "{out}");
    assert!(t.photos_dir().join(young_orphan.as_str()).exists() && young_staged.exists(), "in flight, kept");
    assert_eq!(t.photo_count().await, 2, "never a row");
}
