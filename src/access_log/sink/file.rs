//! The file sink, the access log's own destination: stdout or a file that logrotate may move (SIGHUP reopens it).

use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::QUEUE_LINES;
use crate::metrics::Metrics;

/// `access_log = "stdout" | "off" | "<path>"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Off,
    Stdout,
    File(PathBuf),
}

impl Destination {
    pub fn parse(value: &str) -> Self {
        match value {
            "" | "off" => Destination::Off,
            "stdout" | "-" => Destination::Stdout,
            path => Destination::File(PathBuf::from(path)),
        }
    }
}

type Output = Box<dyn tokio::io::AsyncWrite + Send + Unpin>;

async fn open(destination: &Destination) -> std::io::Result<Output> {
    match destination {
        Destination::File(path) => {
            let file = tokio::fs::OpenOptions::new().create(true).append(true).open(path).await?;
            Ok(Box::new(file))
        }
        _ => Ok(Box::new(tokio::io::stdout())),
    }
}

/// The queue feeding the writer task, or `None` when the log is off.
pub fn spawn(destination: Destination, metrics: Arc<Metrics>) -> Option<mpsc::Sender<String>> {
    if destination == Destination::Off {
        return None;
    }
    let (sender, mut lines) = mpsc::channel::<String>(QUEUE_LINES);
    tokio::spawn(async move {
        let dropped = metrics.access_log_dropped.with_label_values(&["log"]);
        let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut output = match open(&destination).await {
            Ok(output) => Some(output),
            Err(e) => {
                tracing::error!(error = %e, ?destination, "cannot open the access log");
                None
            }
        };
        let mut batch = String::with_capacity(64 * 1024);
        loop {
            tokio::select! {
                line = lines.recv() => {
                    let Some(line) = line else { break };
                    let mut count = 1;
                    batch.push_str(&line);
                    batch.push('\n');
                    // Whatever else is queued goes out in the same write.
                    while batch.len() < 60 * 1024 && let Ok(line) = lines.try_recv() {
                        batch.push_str(&line);
                        batch.push('\n');
                        count += 1;
                    }
                    let written = match output.as_mut() {
                        Some(out) => out.write_all(batch.as_bytes()).await.and(out.flush().await).is_ok(),
                        None => false,
                    };
                    if !written {
                        dropped.inc_by(count);
                    }
                    batch.clear();
                }
                Some(()) = async { hangups.as_mut()?.recv().await } => {
                    // logrotate moved the file: start a new one under the configured name.
                    output = open(&destination).await.inspect_err(|e| tracing::error!(error = %e, "reopening the access log")).ok();
                }
            }
        }
    });
    Some(sender)
}
