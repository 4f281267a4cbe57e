//! The relay's metrics, served at `GET /metrics` in the Prometheus text
//! format (`prometheus-client`). Every layer records into one [`Metrics`];
//! `docs/relay.md` lists each metric and what it means.

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

type Labels = Vec<(&'static str, &'static str)>;

/// Every metric the relay keeps.
pub struct Metrics {
    registry: Registry,
    pub http_connections: Gauge,
    pub websockets: Gauge,
    pub rooms: Gauge,
    pub ops_accepted: Counter,
    ops_refused: Family<Labels, Counter>,
    pub echoes: Counter,
    pub presence_received: Counter,
    pub presence_queued: Counter,
    closes: Family<Labels, Counter>,
    upgrades_refused: Family<Labels, Counter>,
    pub queued_bytes: Gauge,
    commit_seconds: Histogram,
    commit_batches: Histogram,
    commit_failures: Counter,
    room_load_seconds: Histogram,
    snapshot_bytes: Histogram,
    snapshot_seconds: Histogram,
    op_echo_seconds: Histogram,
}

/// Latency buckets from 50 µs to about 50 s.
fn seconds() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 20))
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("collab");
        let m = Metrics {
            http_connections: Gauge::default(),
            websockets: Gauge::default(),
            rooms: Gauge::default(),
            ops_accepted: Counter::default(),
            ops_refused: Family::default(),
            echoes: Counter::default(),
            presence_received: Counter::default(),
            presence_queued: Counter::default(),
            closes: Family::default(),
            upgrades_refused: Family::default(),
            queued_bytes: Gauge::default(),
            commit_seconds: seconds(),
            commit_batches: Histogram::new(exponential_buckets(1.0, 2.0, 13)),
            commit_failures: Counter::default(),
            room_load_seconds: seconds(),
            snapshot_bytes: Histogram::new(exponential_buckets(256.0, 4.0, 12)),
            snapshot_seconds: seconds(),
            op_echo_seconds: seconds(),
            registry: Registry::default(),
        };
        registry.register(
            "http_connections",
            "Open TCP connections (HTTP and WebSocket)",
            m.http_connections.clone(),
        );
        registry.register(
            "websocket_connections",
            "Open WebSocket connections",
            m.websockets.clone(),
        );
        registry.register("rooms", "Documents loaded in memory", m.rooms.clone());
        registry.register(
            "ops_accepted",
            "Operations accepted and numbered",
            m.ops_accepted.clone(),
        );
        registry.register(
            "ops_refused",
            "Operations refused, by error code",
            m.ops_refused.clone(),
        );
        registry.register(
            "echoes",
            "op_echo messages queued to clients (one per operation per member)",
            m.echoes.clone(),
        );
        registry.register(
            "presence_received",
            "presence messages accepted from clients",
            m.presence_received.clone(),
        );
        registry.register(
            "presence_queued",
            "presence and presence_removed messages handed to members (after coalescing by sender; a receiver's unsent one is replaced)",
            m.presence_queued.clone(),
        );
        registry.register(
            "connections_closed",
            "Connections the relay closed, by error code",
            m.closes.clone(),
        );
        registry.register(
            "upgrades_refused",
            "WebSocket upgrades refused before any message, by reason (origin, per-address limits)",
            m.upgrades_refused.clone(),
        );
        registry.register_with_unit(
            "queued",
            "Bytes held in messages queued for clients (the relay-wide budget's use)",
            Unit::Bytes,
            m.queued_bytes.clone(),
        );
        registry.register_with_unit(
            "commit",
            "Time to write one group commit",
            Unit::Seconds,
            m.commit_seconds.clone(),
        );
        registry.register(
            "commit_batches",
            "Batches (of all documents) written per group commit",
            m.commit_batches.clone(),
        );
        registry.register(
            "commit_failures",
            "Group commits that failed",
            m.commit_failures.clone(),
        );
        registry.register_with_unit(
            "room_load",
            "Time to load a document from the store into a room",
            Unit::Seconds,
            m.room_load_seconds.clone(),
        );
        registry.register_with_unit(
            "snapshot",
            "Size of snapshots written",
            Unit::Bytes,
            m.snapshot_bytes.clone(),
        );
        registry.register_with_unit(
            "snapshot_write",
            "Time to write one snapshot to the store",
            Unit::Seconds,
            m.snapshot_seconds.clone(),
        );
        registry.register_with_unit(
            "op_echo",
            "Time from receiving an operation to queueing its echoes, commit included",
            Unit::Seconds,
            m.op_echo_seconds.clone(),
        );
        Metrics { registry, ..m }
    }

    pub fn refused(&self, code: &'static str) {
        self.ops_refused.get_or_create(&vec![("code", code)]).inc();
    }

    pub fn upgrade_refused(&self, reason: &'static str) {
        self.upgrades_refused
            .get_or_create(&vec![("reason", reason)])
            .inc();
    }

    pub fn closed(&self, code: &'static str) {
        self.closes.get_or_create(&vec![("code", code)]).inc();
    }

    pub fn commit(&self, took: Duration, batches: usize, ok: bool) {
        if batches == 0 {
            return;
        }
        self.commit_seconds.observe(took.as_secs_f64());
        self.commit_batches.observe(batches as f64);
        if !ok {
            self.commit_failures.inc();
        }
    }

    pub fn room_loaded(&self, took: Duration) {
        self.room_load_seconds.observe(took.as_secs_f64());
    }

    pub fn snapshot(&self, took: Duration, bytes: usize) {
        self.snapshot_seconds.observe(took.as_secs_f64());
        self.snapshot_bytes.observe(bytes as f64);
    }

    pub fn op_echo(&self, took: Duration) {
        self.op_echo_seconds.observe(took.as_secs_f64());
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
