//! One load run against one server: connect every editor (a bounded number
//! at a time), start them together, count over the measured window, and
//! sum up what they measured.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

use crate::editor::{Arrival, Editor, Plan, Report, Schedule};
use crate::stats::{Latencies, PerSecond};
use collab_bench::process::{ServerCpu, cpu_time, machine_busy};

/// Time between the last editor going live and the first edit, so that no
/// editor starts late because it had not seen the schedule yet.
const LEAD: Duration = Duration::from_millis(200);

#[derive(Clone, Debug)]
pub struct Settings {
    pub clients: usize,
    pub docs: usize,
    /// Ops per second, all editors together.
    pub rate: f64,
    pub warmup: Duration,
    pub duration: Duration,
    /// How long editors wait for their last echoes after the window.
    pub drain: Duration,
    /// Editors connecting at once.
    pub connect_concurrency: usize,
    pub arrival: Arrival,
    pub seed: u64,
    pub echo_only: bool,
    /// Each edit is followed by a presence update (`--presence-per-edit`).
    pub presence: bool,
    /// The relay's HS256 secret when it requires tokens: every editor shows
    /// a write token for its document, minted with it.
    pub auth_secret: Option<Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("client {client} could not connect: {why}")]
    Connect { client: usize, why: String },
    #[error("a client task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// What a run measured, all editors together.
pub struct Outcome {
    pub window: Duration,
    pub sent: u64,
    pub acked: u64,
    pub echoes: u64,
    pub echoes_per_second: PerSecond,
    pub latencies: Latencies,
    pub lost: u64,
    /// Presence updates sent and received inside the window.
    pub presence_sent: u64,
    pub presence_received: u64,
    /// Editors whose connection ended early, and the first reason.
    pub failed: usize,
    pub first_error: Option<String>,
    /// CPU the server, this process and the whole machine used inside the
    /// window.
    pub server_cpu: Option<Duration>,
    pub own_cpu: Option<Duration>,
    pub machine_cpu: Option<Duration>,
}

/// Runs the load against `urls` (client i connects to `urls[i % n]`: the
/// nodes of a cluster share the clients, and each document's clients are
/// spread over them); `server` tells whose CPU time counts as the
/// server's.
pub async fn run(
    settings: &Settings,
    urls: &[String],
    server: &ServerCpu,
) -> Result<Outcome, LoadError> {
    let urls: Vec<Arc<str>> = urls.iter().map(|u| Arc::from(u.as_str())).collect();
    // Fresh document ids per run, so an already-running relay starts every
    // document empty and its replica ids never collide with an old run's.
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let prefix = format!("load-{}-{unique}", std::process::id());
    let interval = Duration::from_secs_f64(settings.clients as f64 / settings.rate);
    let gate = Arc::new(Semaphore::new(settings.connect_concurrency.max(1)));
    let (live_tx, mut live_rx) = mpsc::channel::<Result<(), (usize, String)>>(settings.clients);
    let (schedule_tx, schedule_rx) = watch::channel(None::<Schedule>);
    let mut editors = JoinSet::new();
    for i in 0..settings.clients {
        let doc_id = format!("{prefix}-{}", i % settings.docs);
        let token = settings.auth_secret.as_ref().map(|secret| {
            collab_relay::auth::Signer::hs256(secret)
                .mint(
                    "load",
                    &doc_id,
                    collab_relay::auth::Role::Write,
                    Duration::from_secs(3600),
                )
                .unwrap_or_default()
        });
        let plan = Plan {
            url: urls[i % urls.len()].clone(),
            token,
            doc_id,
            replica_id: i as u64 + 1,
            interval,
            arrival: settings.arrival,
            seed: settings.seed,
            echo_only: settings.echo_only,
            presence: settings.presence,
        };
        let gate = gate.clone();
        let live_tx = live_tx.clone();
        let mut schedule_rx = schedule_rx.clone();
        editors.spawn(async move {
            let editor = {
                let _permit = gate.acquire().await;
                Editor::connect(plan).await
            };
            let editor = match editor {
                Ok(editor) => editor,
                Err(why) => {
                    let _ = live_tx.send(Err((i, why))).await;
                    return Report::default();
                }
            };
            let _ = live_tx.send(Ok(())).await;
            let Ok(schedule) = schedule_rx.wait_for(Option::is_some).await.map(|s| *s) else {
                return Report::default();
            };
            editor.run(schedule.expect("waited for it")).await
        });
    }
    drop(live_tx);
    for _ in 0..settings.clients {
        match live_rx.recv().await {
            Some(Ok(())) => {}
            Some(Err((client, why))) => return Err(LoadError::Connect { client, why }),
            None => break,
        }
    }
    let start = Instant::now() + LEAD;
    let schedule = Schedule {
        start,
        measure_start: start + settings.warmup,
        measure_end: start + settings.warmup + settings.duration,
        drain_end: start + settings.warmup + settings.duration + settings.drain,
    };
    let _ = schedule_tx.send(Some(schedule));
    sleep_until(schedule.measure_start).await;
    let sample = || (server.cpu_time(), cpu_time(None), machine_busy());
    let before = sample();
    sleep_until(schedule.measure_end).await;
    let after = sample();
    let used =
        |a: Option<Duration>, b: Option<Duration>| a.zip(b).map(|(a, b)| a.saturating_sub(b));
    let mut outcome = Outcome {
        window: settings.duration,
        sent: 0,
        acked: 0,
        echoes: 0,
        echoes_per_second: PerSecond::new(settings.duration.as_secs() as usize),
        latencies: Latencies::default(),
        lost: 0,
        presence_sent: 0,
        presence_received: 0,
        failed: 0,
        first_error: None,
        server_cpu: used(after.0, before.0),
        own_cpu: used(after.1, before.1),
        machine_cpu: used(after.2, before.2),
    };
    while let Some(report) = editors.join_next().await {
        let report = report?;
        outcome.sent += report.sent;
        outcome.acked += report.acked;
        outcome.echoes_per_second.merge(&report.echoes);
        outcome.latencies.merge(report.latencies);
        outcome.lost += report.lost;
        outcome.presence_sent += report.presence_sent;
        outcome.presence_received += report.presence_received;
        if let Some(error) = report.error {
            outcome.failed += 1;
            outcome.first_error.get_or_insert(error);
        }
    }
    outcome.echoes = outcome.echoes_per_second.total();
    Ok(outcome)
}
