//! `stratus traffic`: requests per client IP per window, from the access log.

use std::process::ExitCode;

use stratus::Settings;

use super::fail;

#[derive(clap::Args)]
pub struct TrafficArgs {
    /// An access log file (`-` for stdin).
    #[arg(long, conflicts_with = "stream")]
    file: Option<std::path::PathBuf>,
    /// A Redis server holding the stream, e.g. redis://127.0.0.1:6379, or a Kinesis Data
    /// Stream, kinesis://NAME (region and credentials from the standard AWS chain; every
    /// shard is read, from the oldest record, or from now with --follow).
    #[arg(long, value_parser = access_log_stream)]
    stream: Option<stratus::config::AccessLogStream>,
    /// The Redis Stream's key (default: the configured access_log_stream_key).
    #[arg(long)]
    key: Option<String>,
    /// Keep reading as lines arrive, printing each window once final.
    #[arg(long)]
    follow: bool,
    /// Window length, e.g. 10s, 1m.
    #[arg(long, default_value = "10s", value_parser = seconds)]
    window: u64,
    /// How long after its end a window waits for late lines (with --follow).
    #[arg(long, default_value = "2s", value_parser = seconds)]
    grace: u64,
    #[arg(long, value_enum, default_value = "table")]
    format: stratus::access_log::query::Format,
}

/// `10s`, `2m`, `1h` or plain seconds.
fn seconds(text: &str) -> Result<u64, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration such as 10s or 1m"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("{text:?}: the unit must be s, m or h")),
    };
    if n == 0 {
        return Err("a window must be at least 1s".into());
    }
    Ok(n * scale)
}

fn access_log_stream(text: &str) -> Result<stratus::config::AccessLogStream, String> {
    stratus::config::AccessLogStream::parse(text)?.ok_or_else(|| "give redis://HOST:6379 or kinesis://STREAM".into())
}

/// Prints requests per client IP per window from the source `args` or the settings name.
pub async fn run(settings: &Settings, args: TrafficArgs) -> ExitCode {
    let TrafficArgs { file, stream, key, follow, window, grace, format } = args;
    use stratus::access_log::Source;
    use stratus::access_log::query::Printer;
    let stream = match stream.or_else(|| settings.access_log_stream.clone()).filter(|_| file.is_none()) {
        Some(stream) => {
            let key = key.unwrap_or_else(|| settings.access_log_stream_key.clone());
            match stratus::state::connect_log_stream(&stream, key, &settings.tls).await {
                Ok(stream) => Some(stream),
                Err(e) => return fail(format!("--stream {e}")),
            }
        }
        None => None,
    };
    let Some(source) = Source::read_back(file, stream, &settings.access_log) else {
        return fail(
            "nothing to read: give --file PATH (or -), --stream redis://HOST:6379 or --stream kinesis://STREAM",
        );
    };
    let mut printer = Printer::new(std::io::stdout(), format);
    let windows = stratus::access_log::windows::Windows::new(window, grace);
    match stratus::access_log::query::run(source, follow, windows, &mut printer).await {
        Ok(skipped) => {
            if skipped != Default::default() {
                eprintln!(
                    "stratus: skipped {} lines that are not access log lines, {} dated more than {} minutes ahead of this clock or ten years behind it, {} that came after their window closed",
                    skipped.unreadable,
                    skipped.out_of_range,
                    stratus::access_log::line::FUTURE_HORIZON_SECS / 60,
                    skipped.late
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
