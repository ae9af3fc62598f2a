//! `/architecture`: the deployment this instance is part of, as a diagram and a table, drawn
//! from the effective settings, the fleet's roster (heartbeats in the shared session server)
//! and this instance's own metrics. Hosts and names only: no URL's user or password, no key.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use figment::value::Value;
use prometheus::core::Collector;
use serde::Serialize;

use crate::access_log::Destination;
use crate::config::{AccessLogStream, CacheUrl, DatabaseUrl, SessionUrl, Settings, StorageUrl, level_settings};
use crate::metrics::Metrics;
use crate::session::{InstanceBeat, Roster};

/// How often an instance beats, and how many beats it may miss before it drops off the list.
pub const BEAT: Duration = Duration::from_secs(2);
pub const MISSED_BEATS: u32 = 3;
/// The live figures cover about this long (the newest samples the heartbeat keeps).
const WINDOW: Duration = Duration::from_secs(30);

/// The level files, embedded: what each level is and which keys it sets.
const LEVELS: [&str; 7] = [
    include_str!("../../profiles/level0.toml"),
    include_str!("../../profiles/level1.toml"),
    include_str!("../../profiles/level2.toml"),
    include_str!("../../profiles/level3.toml"),
    include_str!("../../profiles/level4.toml"),
    include_str!("../../profiles/level5.toml"),
    include_str!("../../profiles/level6.toml"),
];

/// The host part of a URL (`host:port`, or a comma-separated list of them): what follows the
/// scheme, after any `user:password@`, up to the path. Cut at the last `@` first, so a
/// password holding `/` or `:` never shows.
pub fn url_hosts(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, after)| after);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    rest[..end].to_owned()
}

/// The first path segment of a URL (a MySQL database's name), without any query.
fn url_path_name(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, after)| after);
    let path = rest.split_once('/')?.1;
    let name = path.split(['?', '#', '/']).next().unwrap_or_default();
    (!name.is_empty()).then(|| name.to_owned())
}

/// A setting's value as a teacher may see it: URLs reduced to scheme and hosts.
fn shown_value(key: &str, value: &Value) -> String {
    match value {
        Value::String(_, s) if key.contains("secret") || key.contains("password") => {
            if s.is_empty() {
                String::new()
            } else {
                "[redacted]".into()
            }
        }
        Value::String(_, s) if s.starts_with("file://") || s.starts_with("s3://") => s.clone(),
        Value::String(_, s) if s.contains("://") => {
            let scheme = s.split_once("://").map_or("", |(scheme, _)| scheme);
            let name = url_path_name(s).map(|n| format!("/{n}")).unwrap_or_default();
            format!("{scheme}://{}{name}", url_hosts(s))
        }
        Value::String(_, s) => s.clone(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// A level's description: its file's first comment paragraph without the `Level N — `.
fn level_detail(source: &str) -> String {
    let text: Vec<&str> = source
        .lines()
        .map_while(|line| line.strip_prefix('#').map(str::trim))
        .take_while(|line| !line.is_empty())
        .collect();
    let text = text.join(" ");
    text.split_once(" — ").map_or(text.as_str(), |(_, what)| what).to_owned()
}

/// A level's one-line summary: the first sentence of its description.
fn level_summary(source: &str) -> String {
    let detail = level_detail(source);
    match detail.find(". ") {
        Some(end) => detail[..=end].to_owned(),
        None => detail,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LevelView {
    pub number: usize,
    pub summary: String,
    pub profile: String,
    pub current: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyChange {
    pub key: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NextLevel {
    pub number: usize,
    pub summary: String,
    pub detail: String,
    pub changes: Vec<KeyChange>,
}

/// The seven levels, the current one marked.
pub fn levels(current: Option<usize>) -> Vec<LevelView> {
    LEVELS
        .iter()
        .enumerate()
        .map(|(number, source)| LevelView {
            number,
            summary: level_summary(source),
            profile: level_settings(number)
                .unwrap_or_default()
                .get("stratus_profile")
                .and_then(|v| v.as_str())
                .unwrap_or("single")
                .to_owned(),
            current: current == Some(number),
        })
        .collect()
}

/// The keys level `number` sets differently from level `number - 1` (unset = the built-in
/// default), values shown as hosts and names only.
pub fn level_changes(number: usize) -> Option<NextLevel> {
    let source = LEVELS.get(number)?;
    let before = number.checked_sub(1).and_then(level_settings).unwrap_or_default();
    let after = level_settings(number)?;
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).filter(|k| k.as_str() != "stratus_level").collect();
    keys.sort();
    keys.dedup();
    let changes = keys
        .into_iter()
        .filter(|key| before.get(*key) != after.get(*key))
        .map(|key| KeyChange {
            key: key.clone(),
            from: before.get(key).map_or_else(|| "(default)".into(), |v| shown_value(key, v)),
            to: after.get(key).map_or_else(|| "(default)".into(), |v| shown_value(key, v)),
        })
        .collect();
    Some(NextLevel { number, summary: level_summary(source), detail: level_detail(source), changes })
}

/// A key's value exactly as level `number`'s file writes it (strings as written, other
/// values as TOML would print them); `None` when the file leaves the key to its default.
pub fn level_value(number: usize, key: &str) -> Option<String> {
    let keys = level_settings(number)?;
    match keys.get(key)? {
        Value::String(_, s) => Some(s.clone()),
        other => serde_json::to_string(other).ok(),
    }
}

/// The counters the live figures are differences of, at one moment.
#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    requests: u64,
    /// Requests at or under each latency bucket's bound (cumulative), summed over routes.
    buckets: Vec<(f64, u64)>,
    queries: u64,
    hits: u64,
    lookups: u64,
    uploads: u64,
}

impl Sample {
    fn take(metrics: &Metrics) -> Self {
        let mut requests = 0;
        let mut buckets: Vec<(f64, u64)> = Vec::new();
        for family in metrics.http_duration.collect() {
            for metric in family.get_metric() {
                let histogram = metric.get_histogram();
                requests += histogram.get_sample_count();
                for (i, bucket) in histogram.get_bucket().iter().enumerate() {
                    match buckets.get_mut(i) {
                        Some(slot) => slot.1 += bucket.cumulative_count(),
                        None => buckets.push((bucket.upper_bound(), bucket.cumulative_count())),
                    }
                }
            }
        }
        let queries = metrics
            .db_duration
            .collect()
            .iter()
            .flat_map(|family| family.get_metric())
            .map(|m| m.get_histogram().get_sample_count())
            .sum();
        let front = |result: &str| metrics.front_page.with_label_values(&[result]).get();
        let hits = front("hit");
        Self {
            at: Instant::now(),
            requests,
            buckets,
            queries,
            hits,
            lookups: hits + front("miss") + front("bypass"),
            uploads: metrics.uploads.with_label_values(&["accepted", ""]).get(),
        }
    }
}

/// What this instance did between two samples, as the arrows show it.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    pub window_secs: u64,
    pub requests_per_sec: f64,
    /// `None` when no front page was listed in the window.
    pub hit_ratio_percent: Option<u32>,
    pub queries_per_sec: f64,
    pub uploads_per_min: f64,
    /// The latency bucket bound at least 90 % of the window's requests finished within, in
    /// milliseconds; `None` without requests.
    pub p90_ms: Option<f64>,
}

impl Figures {
    fn between(old: &Sample, new: &Sample) -> Self {
        let secs = new.at.duration_since(old.at).as_secs_f64().max(0.001);
        let requests = new.requests.saturating_sub(old.requests);
        let lookups = new.lookups.saturating_sub(old.lookups);
        let p90_ms = (requests > 0)
            .then(|| {
                let wanted = (requests as f64 * 0.9).ceil() as u64;
                new.buckets
                    .iter()
                    .zip(old.buckets.iter().map(|b| b.1).chain(std::iter::repeat(0)))
                    .find(|((_, now), before)| now.saturating_sub(*before) >= wanted)
                    .map(|((bound, _), _)| bound * 1000.0)
            })
            .flatten();
        Self {
            window_secs: secs.round() as u64,
            requests_per_sec: requests as f64 / secs,
            hit_ratio_percent: (lookups > 0)
                .then(|| (new.hits.saturating_sub(old.hits) * 100 / lookups).min(100) as u32),
            queries_per_sec: new.queries.saturating_sub(old.queries) as f64 / secs,
            uploads_per_min: new.uploads.saturating_sub(old.uploads) as f64 * 60.0 / secs,
            p90_ms,
        }
    }
}

/// One backend or outside party, for the diagram and the table.
#[derive(Debug, Clone, Serialize)]
pub struct Component {
    /// `database`, `store`, `cdn`, `cache`, `sessions`, `access-log`.
    pub role: &'static str,
    pub title: &'static str,
    /// What it is (`MySQL`, `S3 bucket`...).
    pub kind: String,
    /// Where: hosts, a bucket, a path. Never a password.
    pub place: String,
}

fn components(settings: &Settings) -> Vec<Component> {
    let mut out = Vec::new();
    let (kind, place) = match &settings.database {
        DatabaseUrl::Sqlite(path) => ("SQLite file".to_owned(), path.display().to_string()),
        DatabaseUrl::Mysql(url) => {
            let url = url.expose();
            let name = url_path_name(url).map(|n| format!(", database {n}")).unwrap_or_default();
            ("MySQL (MariaDB)".to_owned(), format!("{}{name}", url_hosts(url)))
        }
    };
    out.push(Component { role: "database", title: "Database", kind, place });
    let (kind, place) = match &settings.storage {
        StorageUrl::File(dir) if settings.storage_shared => {
            ("Shared mount (EFS/NFS)".into(), dir.display().to_string())
        }
        StorageUrl::File(dir) => ("Local directory".into(), dir.display().to_string()),
        StorageUrl::S3 { bucket, prefix } => ("S3 bucket".into(), format!("s3://{bucket}/{prefix}")),
    };
    out.push(Component { role: "store", title: "Photo store", kind, place });
    if let Some(base) = settings.media_base_url.as_deref().filter(|b| b.contains("://")) {
        out.push(Component { role: "cdn", title: "CDN", kind: "Image URLs".into(), place: url_hosts(base) });
    }
    let server = |url: &str| {
        let kind = match url.split_once("://").map_or("", |(scheme, _)| scheme) {
            "redis+cluster" => "Redis Cluster",
            "rediss+cluster" => "Redis Cluster over TLS",
            "memcache" => "memcached",
            "memcache+tls" => "memcached over TLS",
            "rediss" => "Redis over TLS",
            _ => "Redis",
        };
        (kind.to_owned(), url_hosts(url))
    };
    let (kind, place) = match &settings.cache {
        CacheUrl::Memory => ("moka, in this process".into(), "each instance its own".into()),
        CacheUrl::None => ("none".into(), "every front page reads the database".into()),
        CacheUrl::Redis(url) | CacheUrl::Memcached(url) => server(url.expose()),
    };
    out.push(Component { role: "cache", title: "Cache", kind, place });
    let (kind, place) = match &settings.sessions {
        SessionUrl::Memory => ("in this process".into(), "each instance its own".into()),
        SessionUrl::Redis(url) | SessionUrl::Memcached(url) => server(url.expose()),
    };
    out.push(Component { role: "sessions", title: "Sessions + roster", kind, place });
    let mut destinations = Vec::new();
    match &settings.access_log {
        Destination::Off => {}
        Destination::Stdout => destinations.push("stdout".to_owned()),
        Destination::File(path) => destinations.push(format!("file {}", path.display())),
    }
    match &settings.access_log_stream {
        Some(AccessLogStream::Redis(url)) => {
            destinations.push(format!("Redis Stream {} on {}", settings.access_log_stream_key, url_hosts(url.expose())))
        }
        // The name only: the region and credentials come from the AWS chain, not the settings.
        Some(AccessLogStream::Kinesis(name)) => destinations.push(format!("Kinesis Data Stream {name}")),
        None => {}
    }
    let (kind, place) = if destinations.is_empty() {
        ("off".to_owned(), "no access log is kept".to_owned())
    } else {
        (
            format!("{} destination{}", destinations.len(), if destinations.len() == 1 { "" } else { "s" }),
            destinations.join("; "),
        )
    };
    out.push(Component { role: "access-log", title: "Access log", kind, place });
    out
}

#[derive(Debug, Clone, Serialize)]
pub struct InstanceView {
    pub id: String,
    pub address: String,
    pub uptime: String,
    pub requests_per_sec: String,
    pub in_flight: i64,
    pub level: Option<String>,
    /// The instance that drew this page.
    pub this: bool,
}

/// A box of the diagram, placed.
#[derive(Debug, Clone, Serialize)]
pub struct Shape {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    /// CSS class: `client`, `proxy`, `instance`, `this`, `backend`.
    pub class: &'static str,
    pub lines: Vec<String>,
}

/// An arrow of the diagram, with its live figure when it has one.
#[derive(Debug, Clone, Serialize)]
pub struct Arrow {
    pub x1: u32,
    pub y1: u32,
    pub x2: u32,
    pub y2: u32,
    /// CSS class: `live` (from this instance) or `faint` (the other instances').
    pub class: &'static str,
    pub label: Option<String>,
    pub lx: u32,
    pub ly: u32,
    /// SVG `text-anchor` of the label: `start` beside the arrow, `middle` above its head.
    pub anchor: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArchitectureView {
    pub profile: String,
    pub level: Option<String>,
    pub via_proxy: bool,
    pub width: u32,
    pub height: u32,
    pub shapes: Vec<Shape>,
    pub arrows: Vec<Arrow>,
    pub description: String,
    pub instances: Vec<InstanceView>,
    pub components: Vec<Component>,
    pub figures: Figures,
    /// Why the list may be incomplete (the session server did not answer).
    pub roster_problem: Option<String>,
    pub roster_kind: &'static str,
    pub beat_secs: u64,
    pub missed_beats: u32,
    pub levels: Vec<LevelView>,
    pub next: Option<NextLevel>,
    pub current_changes: Option<NextLevel>,
}

/// This instance, as it announces itself.
#[derive(Debug, Clone)]
struct Me {
    id: String,
    address: String,
    started_at: i64,
    level: Option<String>,
}

pub struct ArchitectureService {
    me: Me,
    profile: String,
    components: Vec<Component>,
    roster: Arc<dyn Roster>,
    metrics: Arc<Metrics>,
    samples: Arc<Mutex<VecDeque<Sample>>>,
}

fn uptime(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        3600..86400 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d {} h", secs / 86400, secs % 86400 / 3600),
    }
}

/// A box holds about 25 characters a line: longer text is cut with an ellipsis (the table
/// below the diagram has it whole).
fn fit(line: &str) -> String {
    const MAX: usize = 25;
    if line.chars().count() <= MAX {
        return line.to_owned();
    }
    let mut cut: String = line.chars().take(MAX - 1).collect();
    cut.push('…');
    cut
}

fn keep_window(samples: &mut VecDeque<Sample>, now: Instant) {
    while samples.len() > 1 && samples.front().is_some_and(|s| now.duration_since(s.at) > WINDOW) {
        samples.pop_front();
    }
}

impl ArchitectureService {
    /// `address` is `host:port`; the roster id is `instance_id` when set, else the address.
    pub fn new(settings: &Settings, address: String, roster: Arc<dyn Roster>, metrics: Arc<Metrics>) -> Self {
        let me = Me {
            id: settings.instance_id.clone().unwrap_or_else(|| address.clone()),
            address,
            started_at: crate::domain::now_unix(),
            level: settings.level.clone(),
        };
        let first = Sample::take(&metrics);
        Self {
            me,
            profile: settings.profile.clone(),
            components: components(settings),
            roster,
            metrics,
            samples: Arc::new(Mutex::new(VecDeque::from([first]))),
        }
    }

    /// The figures from the oldest kept sample up to now.
    fn figures(&self) -> Figures {
        let now = Sample::take(&self.metrics);
        let oldest = self.samples.lock().ok().and_then(|s| s.front().cloned()).unwrap_or_else(|| now.clone());
        Figures::between(&oldest, &now)
    }

    fn beat_now(&self, figures: &Figures) -> InstanceBeat {
        InstanceBeat {
            id: self.me.id.clone(),
            address: self.me.address.clone(),
            started_at: self.me.started_at,
            beat_at: crate::domain::now_unix(),
            requests_per_sec: figures.requests_per_sec,
            in_flight: self.metrics.in_flight.get(),
            level: self.me.level.clone(),
        }
    }

    /// Beats every [`BEAT`] on a task of its own, sampling the metrics each time, until the
    /// service is dropped (the app is gone) or `draining` is set (SIGTERM): then it leaves
    /// the roster at once instead of waiting to be missed.
    pub fn start_heartbeat(self: &Arc<Self>, draining: Arc<AtomicBool>) {
        let service: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(BEAT);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(service) = service.upgrade() else { return };
                if draining.load(Ordering::SeqCst) {
                    if let Err(e) = service.roster.leave(&service.me.id).await {
                        tracing::warn!(error = %e, "leaving the instance roster");
                    }
                    return;
                }
                let sample = Sample::take(&service.metrics);
                if let Ok(mut samples) = service.samples.lock() {
                    samples.push_back(sample);
                    keep_window(&mut samples, Instant::now());
                }
                let beat = service.beat_now(&service.figures());
                if let Err(e) = service.roster.beat(&beat, BEAT * MISSED_BEATS).await {
                    tracing::warn!(error = %e, "instance heartbeat");
                }
            }
        });
    }

    /// The page's model. A roster that does not answer leaves this instance alone on the
    /// diagram, with the reason shown: the page itself never fails for it.
    pub async fn view(&self, via_proxy: bool) -> ArchitectureView {
        let figures = self.figures();
        let now = crate::domain::now_unix();
        let (mut beats, roster_problem) = match self.roster.list().await {
            Ok(beats) => (beats, None),
            Err(e) => (Vec::new(), Some(format!("the roster did not answer ({e}); only this instance is shown"))),
        };
        // This instance is on its own page even before its first beat lands.
        let me = self.beat_now(&figures);
        match beats.iter_mut().find(|b| b.id == me.id) {
            Some(listed) => *listed = me,
            None => beats.push(me),
        }
        beats.sort_by(|a, b| a.id.cmp(&b.id));
        let instances: Vec<InstanceView> = beats
            .iter()
            .map(|b| InstanceView {
                id: b.id.clone(),
                address: b.address.clone(),
                uptime: uptime(now - b.started_at),
                requests_per_sec: format!("{:.1}", b.requests_per_sec),
                in_flight: b.in_flight,
                level: b.level.clone(),
                this: b.id == self.me.id,
            })
            .collect();
        let level = self.me.level.as_deref().and_then(|l| l.parse::<usize>().ok());
        let (width, height, shapes, arrows) = self.layout(&instances, &figures, via_proxy);
        let description = format!(
            "{} instance{} ({} drew this page){}; {}.",
            instances.len(),
            if instances.len() == 1 { "" } else { "s" },
            self.me.id,
            if via_proxy { " behind a load balancer" } else { "" },
            self.components
                .iter()
                .map(|c| format!("{}: {}, {}", c.title, c.kind, c.place))
                .collect::<Vec<_>>()
                .join("; ")
        );
        ArchitectureView {
            profile: self.profile.clone(),
            level: self.me.level.clone(),
            via_proxy,
            width,
            height,
            shapes,
            arrows,
            description,
            instances,
            components: self.components.clone(),
            figures,
            roster_problem,
            roster_kind: self.roster.kind(),
            beat_secs: BEAT.as_secs(),
            missed_beats: MISSED_BEATS,
            levels: levels(level),
            next: level.and_then(|l| level_changes(l + 1)),
            current_changes: level.and_then(level_changes),
        }
    }

    fn layout(
        &self,
        instances: &[InstanceView],
        figures: &Figures,
        via_proxy: bool,
    ) -> (u32, u32, Vec<Shape>, Vec<Arrow>) {
        const BOX_W: u32 = 180;
        const GAP: u32 = 20;
        let backends: Vec<&Component> = self.components.iter().filter(|c| c.role != "cdn").collect();
        let cdn = self.components.iter().find(|c| c.role == "cdn");
        let row_width = |n: u32| n * BOX_W + n.saturating_sub(1) * GAP;
        let count = instances.len() as u32;
        let width = row_width(count.max(backends.len() as u32)).max(row_width(4)) + 2 * GAP;
        let centre = |n: u32, i: u32| (width - row_width(n)) / 2 + i * (BOX_W + GAP);
        let mut shapes = Vec::new();
        let mut arrows = Vec::new();
        let arrow = |from: &Shape, to: &Shape, class: &'static str, label: Option<String>, at: f64| {
            let (x1, y1) = (from.x + from.w / 2, from.y + from.h);
            let (x2, y2) = (to.x + to.w / 2, to.y);
            let lerp = |a: u32, b: u32| (f64::from(a) + (f64::from(b) - f64::from(a)) * at) as u32;
            // Near the head (at >= 1.0) the label sits centred above the target box, where
            // labels of arrows fanning out of one instance cannot overlap.
            if at >= 1.0 {
                Arrow { x1, y1, x2, y2, class, label, lx: x2, ly: y2.saturating_sub(14), anchor: "middle" }
            } else {
                Arrow { x1, y1, x2, y2, class, label, lx: lerp(x1, x2) + 6, ly: lerp(y1, y2), anchor: "start" }
            }
        };
        let browsers = Shape {
            x: centre(1, 0),
            y: 10,
            w: BOX_W,
            h: 50,
            class: "client",
            lines: vec!["Browsers".into(), format!("{:.1} requests/s here", figures.requests_per_sec)],
        };
        let mut top = browsers.clone();
        let mut y = 110;
        if via_proxy {
            let proxy = Shape {
                x: centre(1, 0),
                y,
                w: BOX_W,
                h: 50,
                class: "proxy",
                lines: vec!["Load balancer".into(), "a trusted proxy".into()],
            };
            arrows.push(arrow(&browsers, &proxy, "live", None, 0.5));
            top = proxy.clone();
            shapes.push(proxy);
            y += 100;
        }
        if let Some(cdn) = cdn {
            let edge = Shape {
                x: width - BOX_W - GAP,
                y: 10,
                w: BOX_W,
                h: 50,
                class: "backend",
                lines: vec![cdn.title.into(), cdn.place.clone()],
            };
            // Browsers fetch the images from the CDN directly, not through the instances.
            let (x1, x2, y) = (browsers.x + browsers.w, edge.x, browsers.y + browsers.h / 2);
            arrows.push(Arrow {
                x1,
                y1: y,
                x2,
                y2: y,
                class: "live",
                label: Some("images".into()),
                lx: (x1 + x2) / 2,
                ly: y - 8,
                anchor: "middle",
            });
            shapes.push(edge);
        }
        shapes.push(browsers);
        let mut boxes = Vec::new();
        for (i, instance) in instances.iter().enumerate() {
            let shape = Shape {
                x: centre(count, i as u32),
                y,
                w: BOX_W,
                h: 80,
                class: if instance.this { "this" } else { "instance" },
                lines: vec![
                    if instance.this { format!("{} (this page)", instance.id) } else { instance.id.clone() },
                    instance.address.clone(),
                    format!("up {}", instance.uptime),
                    format!("{} req/s · {} in flight", instance.requests_per_sec, instance.in_flight),
                ],
            };
            let label = instance.this.then(|| match figures.p90_ms {
                Some(ms) => format!("p90 ≤ {ms} ms"),
                None => "p90 —".into(),
            });
            arrows.push(arrow(&top, &shape, if instance.this { "live" } else { "faint" }, label, 0.55));
            boxes.push(shape);
        }
        let backend_y = y + 180;
        let mut targets = Vec::new();
        for (i, component) in backends.iter().enumerate() {
            targets.push(Shape {
                x: centre(backends.len() as u32, i as u32),
                y: backend_y,
                w: BOX_W,
                h: 70,
                class: "backend",
                lines: vec![component.title.into(), component.kind.clone(), component.place.clone()],
            });
        }
        for (instance, shape) in instances.iter().zip(&boxes) {
            for (component, target) in backends.iter().zip(&targets) {
                if !instance.this {
                    arrows.push(arrow(shape, target, "faint", None, 0.5));
                    continue;
                }
                let label = match component.role {
                    "database" => Some(format!("{:.1} queries/s", figures.queries_per_sec)),
                    "store" => Some(format!("{:.1} uploads/min", figures.uploads_per_min)),
                    "cache" => Some(match figures.hit_ratio_percent {
                        Some(p) => format!("front page hits {p}%"),
                        None => "front page hits —".into(),
                    }),
                    "sessions" => Some(format!("beat every {} s", BEAT.as_secs())),
                    "access-log" if component.kind != "off" => Some(format!("{:.1} lines/s", figures.requests_per_sec)),
                    _ => None,
                };
                arrows.push(arrow(shape, target, "live", label, 1.0));
            }
        }
        shapes.extend(boxes);
        shapes.extend(targets);
        for shape in &mut shapes {
            for line in &mut shape.lines {
                *line = fit(line);
            }
        }
        (width, backend_y + 90, shapes, arrows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_never_carry_credentials() {
        assert_eq!(url_hosts("mysql://app:s3cret@db:3306/stratus"), "db:3306");
        assert_eq!(url_hosts("mysql://app:pa/ss@word@db:3306/stratus?ssl=1"), "db:3306");
        assert_eq!(url_hosts("redis://:hunter2@r1:6379/0"), "r1:6379");
        assert_eq!(url_hosts("redis+cluster://r1:7000,r2:7001"), "r1:7000,r2:7001");
        assert_eq!(url_hosts("https://user:pw@cdn.example.com/path"), "cdn.example.com");
        assert_eq!(url_path_name("mysql://app:x@db:3306/stratus?ssl=1").as_deref(), Some("stratus"));
        assert_eq!(url_path_name("redis://r1:6379"), None);
    }

    #[test]
    fn each_level_says_what_it_changes() {
        let all = levels(Some(4));
        assert_eq!(all.len(), 7);
        assert!(all[4].current && all.iter().filter(|l| l.current).count() == 1);
        assert_eq!(all[0].profile, "single");
        assert_eq!(all[1].profile, "fleet");
        let five = level_changes(5).expect("level 5");
        let keys: Vec<&str> = five.changes.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["media_base_url"], "level 5 adds the CDN and nothing else");
        assert_eq!(five.changes[0].from, "(default)");
        let one = level_changes(1).expect("level 1");
        assert!(one.changes.iter().any(|c| c.key == "database_url" && c.to == "mysql://127.0.0.1:3306/stratus"));
        assert!(level_changes(7).is_none());
        assert!(one.changes.iter().any(|c| c.key == "storage_url" && c.to == "file:///mnt/shared/stratus/photos"));
        assert_eq!(all[3].summary, "auto scaling.");
        assert!(one.detail.ends_with("while you stay logged in."), "{}", one.detail);
        assert_eq!(level_value(3, "latency_ms").as_deref(), Some("500"));
        assert_eq!(level_value(1, "database_url").as_deref(), Some("mysql://root@127.0.0.1:3306/stratus"));
        assert_eq!(level_value(0, "database_url"), None, "level 0 leaves it to the default");
        assert_eq!(level_value(7, "database_url"), None);
    }
}
