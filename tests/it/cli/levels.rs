//! `stratus levels` and `stratus levels N`, as a teacher or an operator runs them.

use std::process::{Command, Output};

fn stratus(dir: &std::path::Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stratus"));
    cmd.current_dir(dir).env("STRATUS_LOG", "error");
    for (key, _) in std::env::vars() {
        if key.starts_with("ROCKET_") || key == "STRATUS_LEVEL" {
            cmd.env_remove(key);
        }
    }
    cmd.env("ROCKET_DATA_DIR", dir.join("site")).args(args).output().expect("run stratus")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn levels_lists_seven_levels_one_line_each() {
    let dir = tempfile::tempdir().expect("dir");
    let text = stdout(&stratus(dir.path(), &["levels"]));
    let rows: Vec<Vec<&str>> = text
        .lines()
        .filter(|line| line.starts_with(|c: char| c.is_ascii_digit()))
        .map(|line| line.split("  ").map(str::trim).filter(|cell| !cell.is_empty()).collect())
        .collect();
    assert_eq!(rows.len(), 7, "{text}");
    for (number, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), 4, "number, name, profile, what it adds: {row:?}");
        assert_eq!(row[0], number.to_string());
        assert_eq!(row[2], if number == 0 { "single" } else { "fleet" }, "{row:?}");
    }
    assert_eq!(rows[4][1], "Cache");
    assert!(text.lines().next().is_some_and(|header| header.starts_with("level")), "{text}");
    assert!(!dir.path().join("site").exists(), "listing the levels opens nothing");
}

#[test]
fn levels_n_names_the_changed_keys_and_the_commands_that_move_the_data() {
    let dir = tempfile::tempdir().expect("dir");
    let one = stdout(&stratus(dir.path(), &["levels", "1"]));
    assert!(one.starts_with("Level 1: Load balancer (fleet profile)"), "{one}");
    for line in ["database_url     (default) -> mysql://127.0.0.1:3306/stratus", "stratus_profile  single -> fleet"] {
        assert!(one.contains(line), "{line:?} in {one}");
    }
    // Level 0's data is where this site's data_dir puts it.
    let site = dir.path().join("site");
    assert!(
        one.contains(&format!(
            "stratus migrate-db --from sqlite://{}/stratus.db --to mysql://root@127.0.0.1:3306/stratus",
            site.display()
        )),
        "{one}"
    );
    assert!(one.contains(&format!("stratus migrate-storage --from file://{}/photos --to", site.display())), "{one}");
    assert!(one.contains("start every instance with `stratus --level 1`, all with the same ROCKET_SECRET_KEY"));

    let three = stdout(&stratus(dir.path(), &["levels", "3"]));
    assert!(three.contains("latency_ms  (default) -> 500"), "{three}");
    assert!(three.contains("nothing to copy") && !three.contains("migrate-"), "{three}");
    assert!(!three.contains("signs in again"), "the session server stays: {three}");

    let zero = stdout(&stratus(dir.path(), &["levels", "0"]));
    assert!(zero.contains("Level 0: One server (single profile)") && !zero.contains("->"), "{zero}");

    let six = stdout(&stratus(dir.path(), &["--level", "2", "levels", "6"]));
    assert!(six.contains("access_log_stream  (default) -> redis://127.0.0.1:6379"), "{six}");
}

#[test]
fn a_level_that_does_not_exist_is_one_line_and_exit_2() {
    let dir = tempfile::tempdir().expect("dir");
    for args in [&["levels", "7"][..], &["levels", "-1"], &["levels", "one"]] {
        let output = stratus(dir.path(), args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.stdout.is_empty(), "{args:?}");
        if args[1] == "7" {
            assert_eq!(stderr.trim(), "stratus: no level 7 (the levels are 0 to 6; `stratus levels` lists them)");
        } else {
            assert!(stderr.starts_with("error:"), "clap's own usage error: {args:?}: {stderr}");
        }
    }
}
