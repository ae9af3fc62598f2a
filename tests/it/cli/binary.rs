//! The binary itself: a bad configuration is one clear line and a non-zero exit.

use crate::common;

use std::process::{Child, Command};

fn stratus(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stratus"));
    cmd.current_dir(dir).env("ROCKET_DATA_DIR", dir.join("data")).env("STRATUS_LOG", "error");
    for (key, _) in std::env::vars() {
        if key.starts_with("ROCKET_") || key == "STRATUS_LEVEL" {
            cmd.env_remove(key);
        }
    }
    cmd.env("ROCKET_DATA_DIR", dir.join("data"));
    cmd
}

/// `cmd` serving on a port it picked; the child and its base URL.
async fn listening(cmd: &mut Command) -> (Child, String) {
    common::process::spawn_listening(cmd, None, std::time::Duration::from_secs(10)).await
}

#[test]
fn bad_config_is_one_line_naming_the_key() {
    let dir = tempfile::tempdir().expect("dir");
    for (key, value) in
        [("ROCKET_CACHE_URL", "bogus"), ("ROCKET_DATABASE_URL", "oracle://x"), ("ROCKET_FRONT_PAGE_SIZE", "many")]
    {
        let output = stratus(dir.path()).env(key, value).output().expect("run");
        assert_eq!(output.status.code(), Some(2), "{key}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<_> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{key}: {stderr}");
        let config_key = key.trim_start_matches("ROCKET_").to_lowercase();
        assert!(lines[0].starts_with(&format!("stratus: config key `{config_key}`")), "{}", lines[0]);
    }
    let output = stratus(dir.path()).args(["--level", "9"]).output().expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("config key `level`: no level \"9\""));
}

#[test]
fn unwritable_data_dir_is_one_line() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("file");
    let output = stratus(dir.path()).env("ROCKET_DATA_DIR", &file).output().expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("stratus: config key `data_dir`"), "{stderr}");
}

#[test]
fn config_command_says_where_each_value_came_from_and_redacts_secrets() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("Rocket.toml"), "[default]\nfront_page_size = 12\n").expect("Rocket.toml");
    let secret = "a-very-secret-key-that-is-long-enough-123";
    let output = stratus(dir.path())
        .env("ROCKET_SECRET_KEY", secret)
        .env("ROCKET_DATABASE_URL", "mysql://app:hunter2@db.internal:3306/stratus")
        .args(["--level", "2", "config"])
        .output()
        .expect("run");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains(secret) && !stdout.contains("hunter2"), "{stdout}");
    let line = |key: &str| {
        stdout.lines().find(|l| l.starts_with(&format!("{key} = "))).unwrap_or_else(|| panic!("no {key}: {stdout}"))
    };
    let parts = |key: &str| -> (String, String) {
        let (value, source) = line(key).split_once("  # ").expect("a source");
        (value.trim().trim_start_matches(&format!("{key} = ")).to_owned(), source.to_owned())
    };
    assert!(stdout.starts_with("# profile: fleet (from the level overlay"), "{stdout}");
    assert_eq!(parts("secret_key"), ("[redacted]".into(), "env ROCKET_SECRET_KEY".into()));
    assert_eq!(
        parts("database_url"),
        ("\"mysql://app:[redacted]@db.internal:3306/stratus\"".into(), "env ROCKET_DATABASE_URL".into())
    );
    assert_eq!(parts("storage_url").1, "profiles/level2.toml built into stratus");
    assert_eq!(parts("front_page_size"), ("12".into(), format!("file {}", dir.path().join("Rocket.toml").display())));
    assert_eq!(parts("cache_ttl_secs"), ("300".into(), "default (built into stratus)".into()));
    assert_eq!(parts("session_url").1, "Rocket.toml [fleet] built into stratus");
    assert_eq!(parts("ident").1, "Rocket.toml built into stratus");
    assert_eq!(parts("presign_ttl_secs"), ("3600".into(), "default (built into stratus)".into()));
    assert_eq!(parts("workers").1, "default (built into Rocket)");
}

#[test]
fn fleet_refuses_node_local_backends_naming_key_and_fix() {
    let dir = tempfile::tempdir().expect("dir");
    let shared = [
        ("ROCKET_DATABASE_URL", "mysql://root@127.0.0.1:1/never"),
        ("ROCKET_STORAGE_URL", "s3://bucket/prefix"),
        ("ROCKET_CACHE_URL", "redis://127.0.0.1:1"),
        ("ROCKET_SESSION_URL", "redis://127.0.0.1:1"),
        ("ROCKET_SECRET_KEY", "a-shared-secret-key-of-at-least-32-chars"),
    ];
    // Each node-local choice in turn, the rest shared: the check runs before any connection.
    let local = [
        ("ROCKET_DATABASE_URL", "sqlite://data/x.db", "database_url", "mysql://"),
        ("ROCKET_STORAGE_URL", "file://data/photos", "storage_url", "storage_shared = true"),
        ("ROCKET_CACHE_URL", "memory", "cache_url", "redis://"),
        ("ROCKET_SESSION_URL", "memory", "session_url", "memcache://"),
        ("ROCKET_SECRET_KEY", "", "secret_key", "ROCKET_SECRET_KEY"),
    ];
    for (var, value, key, fix) in local {
        let mut cmd = stratus(dir.path());
        cmd.env("ROCKET_PROFILE", "fleet");
        for (k, v) in shared {
            cmd.env(k, v);
        }
        let output = cmd.env(var, value).output().expect("run");
        assert_eq!(output.status.code(), Some(2), "{key}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with(&format!("stratus: config key `{key}`")), "{stderr}");
        assert!(stderr.contains(fix), "{key}: the message names the fix: {stderr}");
    }
}

/// Level 3's scale-in: SIGTERM makes `/readyz` 503 at once, a request in flight still gets
/// its answer, and the process exits cleanly within the drain plus Rocket's grace period.
#[tokio::test]
async fn sigterm_drains_then_exits_after_requests_in_flight() {
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = stratus(dir.path());
    cmd.env("ROCKET_LATENCY_MS", "1500").env("ROCKET_DRAIN_SECS", "1").env("ROCKET_SEED_DEMO", "false");
    let (mut child, base) = listening(&mut cmd).await;
    assert_eq!(reqwest::get(format!("{base}/readyz")).await.expect("readyz").status(), 200);

    let slow = tokio::spawn(reqwest::get(format!("{base}/")));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let signalled = std::time::Instant::now();
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(killed.success());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(reqwest::get(format!("{base}/readyz")).await.expect("readyz while draining").status(), 503);

    let slow = slow.await.expect("task").expect("the request in flight is answered");
    assert_eq!(slow.status(), 200);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(signalled.elapsed() < std::time::Duration::from_secs(8), "still running 8 s after SIGTERM");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status:?}");
}

/// logrotate moves the access log away and sends SIGHUP: the next lines go to a new file.
#[tokio::test]
async fn sighup_reopens_the_access_log() {
    let dir = tempfile::tempdir().expect("dir");
    let log = dir.path().join("access.log");
    let mut cmd = stratus(dir.path());
    cmd.env("ROCKET_ACCESS_LOG", &log).env("ROCKET_SEED_DEMO", "false");
    let (mut child, base) = listening(&mut cmd).await;
    let get = async |path: &str| reqwest::get(format!("{base}{path}")).await.is_ok_and(|r| r.status() == 200);
    let wait_for = async |path: &std::path::Path, needle: &str| {
        for _ in 0..50 {
            if std::fs::read_to_string(path).unwrap_or_default().contains(needle) {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        false
    };
    let rotated = dir.path().join("access.log.1");
    let outcome = async {
        assert!(get("/readyz").await);
        assert!(wait_for(&log, "\"/readyz\"").await, "first line written");
        std::fs::rename(&log, &rotated).expect("rotate");
        assert!(Command::new("kill").args(["-HUP", &child.id().to_string()]).status().expect("kill").success());
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(get("/healthz").await);
        assert!(wait_for(&log, "\"/healthz\"").await, "a new file under the configured name");
        let old = std::fs::read_to_string(&rotated).expect("rotated");
        assert!(old.contains("\"/readyz\""), "earlier lines stay in the moved file");
    };
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(outcome)).await;
    child.kill().ok();
    child.wait().ok();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

#[test]
fn every_tutorial_level_has_a_valid_overlay() {
    let dir = tempfile::tempdir().expect("dir");
    for level in 0..=6 {
        let output = stratus(dir.path()).args(["--level", &level.to_string(), "config"]).output().expect("run");
        assert!(output.status.success(), "level {level}: {}", String::from_utf8_lossy(&output.stderr));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let expected = format!("stratus_level = \"{level}\"");
        assert!(stdout.lines().any(|l| l.starts_with(&expected)), "level {level}: {stdout}");
    }
}

/// `stratus admin grant|revoke NAME` on the real binary: it writes the role into the database,
/// refuses an unknown user with a clear line, and `admin_user` is refused at startup with
/// the command to run instead.
#[tokio::test]
async fn admin_role_is_granted_and_revoked_on_the_command_line() {
    use std::os::unix::fs::PermissionsExt;
    use stratus::db::{Repo, SqliteRepo};
    use stratus::domain::{User, UserId, Username};

    let dir = tempfile::tempdir().expect("dir");
    let run = |args: &[&str]| stratus(dir.path()).args(args).output().expect("run");

    let output = run(&["admin", "grant", "alice"]);
    assert_eq!(output.status.code(), Some(2), "unknown user");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("stratus: no user named \"alice\""), "{stderr}");
    assert!(stderr.contains("register the account first"), "{stderr}");
    let output = run(&["admin", "grant", "not a name"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a username"));

    // The command created the data directory and database privately.
    let data = dir.path().join("data");
    let mode = |path: &std::path::Path| std::fs::metadata(path).expect("exists").permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("stratus.db")), 0o600);

    let repo = SqliteRepo::open(&data.join("stratus.db"), 1).await.expect("open");
    let alice = User {
        id: UserId::from_ulid(ulid::Ulid::new()),
        username: Username::parse("alice").expect("name"),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: 1_700_000_000,
    };
    repo.insert_user(&alice).await.expect("insert").expect("new user");
    assert!(!repo.is_admin(alice.id).await.expect("role"));

    let output = run(&["admin", "grant", "ALICE"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("is now an admin"));
    assert!(repo.is_admin(alice.id).await.expect("role"), "granted, name matched ignoring case");
    let output = run(&["admin", "revoke", "alice"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("no longer an admin"));
    assert!(!repo.is_admin(alice.id).await.expect("role"));

    // The removed setting: one line saying what to run instead, for serving and for `admin`.
    for args in [&[][..], &["admin", "grant", "alice"][..]] {
        let output = stratus(dir.path()).env("ROCKET_ADMIN_USER", "alice").args(args).output().expect("run");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("stratus: config key `admin_user`: removed;"), "{stderr}");
        assert!(stderr.contains("`stratus admin grant NAME`"), "{stderr}");
    }
    assert!(!repo.is_admin(alice.id).await.expect("role"), "the refused start granted nothing");
}
