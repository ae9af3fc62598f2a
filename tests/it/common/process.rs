//! Real `stratus` processes on port 0: the system picks a free port as the server binds, and
//! the server says which (`stratus listening on http://ADDRESS:PORT`, one line on stdout). A
//! port picked by the test and released before the server binds it could be taken meanwhile.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const LISTENING: &str = "stratus listening on ";

/// Spawns `cmd` (a serving `stratus`) with `ROCKET_PORT=0` and its stdout piped, and waits up
/// to `within` for the line it prints once listening. Returns the child and its base URL
/// (`http://127.0.0.1:PORT`). Every stdout line goes on to `rest` (a log the test reads), or
/// nowhere. Panics, the child killed, when it exits or stays silent before listening.
pub async fn spawn_listening(cmd: &mut Command, rest: Option<std::fs::File>, within: Duration) -> (Child, String) {
    let mut child = cmd.env("ROCKET_PORT", "0").stdout(Stdio::piped()).spawn().expect("spawn stratus");
    let stdout = child.stdout.take().expect("piped stdout");
    let (found, base) = tokio::sync::oneshot::channel();
    // A thread, not a task: it outlives the test's runtime if need be, and keeps draining the
    // pipe so the server never blocks on a full one.
    std::thread::spawn(move || {
        let (mut found, mut rest) = (Some(found), rest);
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(base) = line.strip_prefix(LISTENING)
                && let Some(found) = found.take()
            {
                found.send(base.to_owned()).ok();
            }
            if let Some(rest) = rest.as_mut() {
                writeln!(rest, "{line}").ok();
            }
        }
    });
    match tokio::time::timeout(within, base).await {
        Ok(Ok(base)) => (child, base),
        Ok(Err(_)) => {
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            panic!("stratus exited before listening ({status})");
        }
        Err(_) => {
            child.kill().ok();
            child.wait().ok();
            panic!("stratus did not listen within {within:?}");
        }
    }
}
