//! `stratus levels` and `stratus levels N`: the tutorial's seven levels, read from the level
//! files built into the binary, and what moving a running site up to level N takes.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use stratus::config::ServerUrl;
use stratus::service::{level_changes, level_value, levels};

use super::fail;

/// Each level's short name and what it adds, in the tutorial's words; the profile, the keys
/// and the long description come from the level files themselves.
const NAMES: [(&str, &str); 7] = [
    ("One server", "the site, SQLite, the photo files and the sessions in one process"),
    ("Load balancer", "two or more instances sharing MySQL, a mounted photo directory and a session server"),
    ("S3", "the photos move to an S3 bucket; image URLs are presigned links"),
    ("Auto scaling", "/metrics and a p90 latency the group scales on; instances drain on SIGTERM"),
    ("Cache", "the front page is cached in Redis (ElastiCache), invalidated by uploads and deletes"),
    ("CDN", "images are served through a CDN (CloudFront) in front of the bucket"),
    ("Log analysis", "every request to a Redis Stream (Kinesis); requests per client IP per window"),
];

/// One line per level: number, name, profile, what it adds.
pub fn list() -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:<5}  {:<13}  {:<7}  adds", "level", "name", "profile");
    for (level, (name, adds)) in levels(None).iter().zip(NAMES) {
        let _ = writeln!(out, "{:<5}  {:<13}  {:<7}  {adds}", level.number, name, level.profile);
    }
    let _ = writeln!(out, "\n`stratus levels N` shows what level N changes and how a running site moves there.");
    out
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// `text` in lines of at most `width` characters, broken between words.
fn wrap(text: &str, width: usize) -> String {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines.join("\n")
}

/// A setting as a command line may carry it: a password in a URL is masked.
fn printable(url: &str) -> String {
    ServerUrl::new(url).redacted()
}

/// Level `number`'s changed keys against the level below and the commands that move a site
/// there, or `None` for a level that does not exist. `data_dir` is where the built-in
/// defaults (level 0's SQLite file and photo directory) live.
pub fn detail(number: usize, data_dir: &Path) -> Option<String> {
    let next = level_changes(number)?;
    let (name, _) = NAMES.get(number)?;
    let profile = level_value(number, "stratus_profile").unwrap_or_else(|| "single".into());
    let mut out = String::new();
    let _ = writeln!(out, "Level {number}: {name} ({profile} profile)\n");
    let _ = writeln!(out, "{}\n", wrap(&capitalised(&next.detail), 96));
    let Some(before) = number.checked_sub(1) else {
        let _ = writeln!(out, "Level 0 is where every site starts: run `stratus --level 0`.");
        return Some(out);
    };
    let _ = writeln!(out, "Keys level {number} sets differently from level {before}:");
    let width = next.changes.iter().map(|c| c.key.len()).max().unwrap_or(0);
    for change in &next.changes {
        let _ = writeln!(out, "  {:<width$}  {} -> {}", change.key, change.from, change.to);
    }
    let defaults = [
        ("database_url", "migrate-db", format!("sqlite://{}", data_dir.join("stratus.db").display())),
        ("storage_url", "migrate-storage", format!("file://{}", data_dir.join("photos").display())),
    ];
    let moves: Vec<String> = defaults
        .iter()
        .filter_map(|(key, command, default)| {
            let from = level_value(before, key).unwrap_or_else(|| default.clone());
            let to = level_value(number, key).unwrap_or_else(|| default.clone());
            (from != to).then(|| format!("stratus {command} --from {} --to {}", printable(&from), printable(&to)))
        })
        .collect();
    let _ = writeln!(out, "\nMoving a running level {before} site to level {number}:");
    let mut step = 0;
    let mut say = |text: String| {
        step += 1;
        let _ = writeln!(out, "  {step}. {text}");
    };
    if moves.is_empty() {
        say("nothing to copy: the data stays where it is.".into());
    } else {
        say(format!("stop the level {before} site, so that no write lands after the copy."));
        for command in &moves {
            say(format!("{command}\n     (resumable: after an interruption run it again)"));
        }
    }
    if level_value(before, "session_url") != level_value(number, "session_url") {
        say("sessions are not copied: everyone signs in again on the new session server.".into());
    }
    let shared_key = if profile == "fleet" { ", all with the same ROCKET_SECRET_KEY" } else { "" };
    say(format!("start every instance with `stratus --level {number}`{shared_key}."));
    if let Some(key) = level_value(number, "media_base_url") {
        say(format!("point the CDN {key} at the bucket: image URLs are that host + the blob's key."));
    }
    Some(out)
}

/// `stratus levels [N]`: reads only the level files built into the binary.
pub fn run(number: Option<usize>, data_dir: &std::path::Path) -> ExitCode {
    let text = match number {
        None => Some(list()),
        Some(n) => detail(n, data_dir),
    };
    match text {
        Some(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        None => fail(format!("no level {} (the levels are 0 to 6; `stratus levels` lists them)", number.unwrap_or(0))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_level_has_a_name() {
        assert_eq!(NAMES.len(), levels(None).len());
    }

    #[test]
    fn data_moves_only_where_a_level_moves_it() {
        let dir = Path::new("/srv/site");
        let one = detail(1, dir).expect("level 1");
        assert!(
            one.contains(
                "stratus migrate-db --from sqlite:///srv/site/stratus.db --to mysql://root@127.0.0.1:3306/stratus"
            ),
            "{one}"
        );
        assert!(
            one.contains(
                "stratus migrate-storage --from file:///srv/site/photos --to file:///mnt/shared/stratus/photos"
            ),
            "{one}"
        );
        assert!(one.contains("signs in again"), "{one}");
        let two = detail(2, dir).expect("level 2");
        assert!(!two.contains("migrate-db"), "{two}");
        assert!(
            two.contains(
                "stratus migrate-storage --from file:///mnt/shared/stratus/photos --to s3://stratus-photos/photos"
            ),
            "{two}"
        );
        let four = detail(4, dir).expect("level 4");
        assert!(!four.contains("migrate-") && four.contains("nothing to copy"), "{four}");
        assert!(four.contains("cache_url") && four.contains("none -> redis://127.0.0.1:6379"), "{four}");
        assert!(detail(7, dir).is_none());
    }

    #[test]
    fn descriptions_wrap_between_words() {
        assert_eq!(wrap("one two three four", 9), "one two\nthree\nfour");
        assert_eq!(capitalised("cache layer"), "Cache layer");
    }

    #[test]
    fn a_password_in_a_level_file_is_never_printed() {
        assert_eq!(printable("mysql://app:s3cret@db:3306/stratus"), "mysql://app:[redacted]@db:3306/stratus");
    }
}
