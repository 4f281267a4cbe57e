//! One simulated editor: a real [`ClientSession`] on its own WebSocket,
//! typing at a set rate and timing every own op from send to echo.
//!
//! The session parses every echo and integrates every op into its replica,
//! which is what a real editor pays per remote keystroke; the load
//! generator shares the machine with the server, so that cost is part of
//! what is measured.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use collab_crdt::sync::{ClientMessage, ClientSession, Event, OpBatch, Status};
use futures_util::{SinkExt, StreamExt};
use tokio::time::{Instant, sleep_until, timeout};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async_with_config};

use crate::stats::{Latencies, PerSecond};
use collab_testkit::Rng;

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// How long connecting and catching up may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// tungstenite zero-fills its whole free read buffer before every read
/// (even one that finds nothing), so its 128 KiB default made that memset
/// the load generator's largest cost; bursts of echoes fit in far less.
const READ_BUFFER: usize = 4 * 1024;

/// What an edit types: mostly letters, some spaces.
const TYPED: &[u8] = b"etaoinshrdlucmfwypvbgkqjxz      ";

/// How the gaps between one editor's edits are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Arrival {
    /// Exponential gaps: independent typists, bursts included.
    Poisson,
    /// Equal gaps, each editor starting at a random phase.
    Even,
}

impl Arrival {
    pub fn name(self) -> &'static str {
        match self {
            Arrival::Poisson => "Poisson",
            Arrival::Even => "evenly spaced",
        }
    }
}

/// Who an editor is and how fast it types.
pub struct Plan {
    pub url: Arc<str>,
    /// The token `hello` shows, when the relay requires one.
    pub token: Option<String>,
    pub doc_id: String,
    pub replica_id: u64,
    /// Mean time between two edits.
    pub interval: Duration,
    pub arrival: Arrival,
    pub seed: u64,
    /// Diagnostic: time own echoes by their `replica_id` field alone, never
    /// parsing or integrating an echo (see `--echo-only`).
    pub echo_only: bool,
}

/// The phases of a run, shared by every editor.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    /// Editing starts (warm-up).
    pub start: Instant,
    /// Counting starts.
    pub measure_start: Instant,
    /// Counting and editing stop.
    pub measure_end: Instant,
    /// Editors still waiting for their own echoes give up.
    pub drain_end: Instant,
}

impl Schedule {
    fn offset(&self, at: Instant) -> Option<Duration> {
        (at >= self.measure_start && at < self.measure_end).then(|| at - self.measure_start)
    }
}

/// What one editor measured.
#[derive(Default)]
pub struct Report {
    /// Own ops sent inside the measured window.
    pub sent: u64,
    /// Own ops acknowledged inside the window.
    pub acked: u64,
    /// `op_echo` messages received inside the window, own and others'.
    pub echoes: PerSecond,
    /// Send-to-echo time of each op sent inside the window.
    pub latencies: Latencies,
    /// Ops sent inside the window never echoed before the drain ended.
    pub lost: u64,
    /// Why the connection ended early, if it did.
    pub error: Option<String>,
}

/// A connected editor, caught up and live, not typing yet.
pub struct Editor {
    plan: Plan,
    socket: Socket,
    session: ClientSession,
}

impl Editor {
    /// Connects, says `hello` and waits until the session is live at the
    /// head the server announced.
    pub async fn connect(plan: Plan) -> Result<Editor, String> {
        let connecting = async {
            let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
            // Nagle's algorithm would hold back small frames.
            let (mut socket, _) = connect_async_with_config(&*plan.url, Some(config), true)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let mut session = ClientSession::new(plan.doc_id.as_str(), plan.replica_id)
                .map_err(|e| format!("session: {e}"))?;
            session.set_token(plan.token.clone());
            let hello = session.connect().to_json();
            socket
                .send(Message::text(hello))
                .await
                .map_err(|e| format!("send hello: {e}"))?;
            let mut head = None;
            while head.is_none_or(|h| {
                session.status() != Status::Live || session.last_seen_server_seq() < h
            }) {
                let text = match socket.next().await {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(frame))) => {
                        return Err(format!("closed during hello ({})", close_reason(frame)));
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(format!("during hello: {e}")),
                    None => return Err("closed during hello".to_owned()),
                };
                match session.receive_text(&text) {
                    Ok(Event::Connected { server_seq, .. }) => head = Some(server_seq),
                    Ok(Event::Error(e)) => {
                        return Err(format!("server error {}: {}", e.code, e.message));
                    }
                    Ok(_) => {}
                    Err(e) => return Err(format!("session: {e}")),
                }
            }
            Ok((socket, session))
        };
        let (socket, session) = timeout(CONNECT_TIMEOUT, connecting)
            .await
            .map_err(|_| format!("not live within {CONNECT_TIMEOUT:?}"))??;
        Ok(Editor {
            plan,
            socket,
            session,
        })
    }

    /// Types from `schedule.start` to `schedule.measure_end`, reading echoes
    /// all along, then waits for its own last echoes until the drain ends.
    pub async fn run(self, schedule: Schedule) -> Report {
        let Editor {
            plan,
            mut socket,
            mut session,
        } = self;
        let window = schedule.measure_end - schedule.measure_start;
        let report = Report {
            echoes: PerSecond::new(window.as_secs() as usize),
            ..Report::default()
        };
        let mut rng = Rng::new(plan.seed, plan.replica_id);
        let mean = plan.interval.as_secs_f64();
        let gap = move |rng: &mut Rng, first: bool| {
            Duration::from_secs_f64(match (plan.arrival, first) {
                (Arrival::Poisson, _) => rng.exponential(mean),
                (Arrival::Even, true) => rng.unit() * mean,
                (Arrival::Even, false) => mean,
            })
        };
        let mut tally = Tally {
            report,
            in_flight: VecDeque::new(),
            own_marker: plan
                .echo_only
                .then(|| format!(r#""replica_id":{},"op""#, plan.replica_id)),
        };
        let mut next_edit = schedule.start + gap(&mut rng, true);
        let edit_timer = sleep_until(next_edit);
        let drain_timer = sleep_until(schedule.drain_end);
        tokio::pin!(edit_timer, drain_timer);
        let mut typing = true;
        let error = loop {
            tokio::select! {
                frame = socket.next() => {
                    if let Err(e) = tally.on_frame(&mut session, frame, &schedule) {
                        break Some(e);
                    }
                }
                () = &mut edit_timer, if typing => {
                    if Instant::now() >= schedule.measure_end {
                        typing = false;
                    } else {
                        if let Err(e) = tally.type_one(&mut session, &mut socket, &mut rng, &schedule).await {
                            break Some(e);
                        }
                        // Open loop: the schedule does not wait for echoes,
                        // and an editor that fell behind catches up at once.
                        next_edit += gap(&mut rng, false);
                        edit_timer.as_mut().reset(next_edit);
                    }
                }
                () = &mut drain_timer => break None,
            }
            if !typing && tally.in_flight.is_empty() {
                break None;
            }
        };
        let _ = timeout(Duration::from_secs(1), socket.close(None)).await;
        let Tally {
            mut report,
            in_flight,
            ..
        } = tally;
        report.error = error;
        report.lost = in_flight.iter().filter(|(_, counted)| *counted).count() as u64;
        report
    }
}

/// What a running editor keeps count of.
struct Tally {
    report: Report,
    /// Send instants of the unacknowledged own ops, oldest first, and
    /// whether each was sent inside the window.
    in_flight: VecDeque<(Instant, bool)>,
    /// With `--echo-only`, what only this editor's echoes contain (both
    /// servers write `replica_id` right before `op`).
    own_marker: Option<String>,
}

impl Tally {
    /// Handles one frame from the server; an error ends the editor.
    fn on_frame(
        &mut self,
        session: &mut ClientSession,
        frame: Option<Result<Message, WsError>>,
        schedule: &Schedule,
    ) -> Result<(), String> {
        let text = match frame {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => {
                return Err(format!("closed by the server ({})", close_reason(frame)));
            }
            Some(Ok(_)) => return Ok(()),
            Some(Err(e)) => return Err(format!("read: {e}")),
            None => return Err("connection closed".to_owned()),
        };
        if let Some(marker) = &self.own_marker {
            let now = Instant::now();
            let offset = schedule.offset(now);
            if text.as_str().contains(marker.as_str()) {
                self.acknowledge(1, now, offset.is_some());
            }
            if let Some(offset) = offset {
                self.report.echoes.count(offset);
            }
            return Ok(());
        }
        let unacked = session.unacked();
        let event = session
            .receive_text(&text)
            .map_err(|e| format!("session: {e}"))?;
        let now = Instant::now();
        let offset = schedule.offset(now);
        match event {
            Event::Remote { .. } => {}
            Event::Acknowledged { .. } => {
                // One echo acknowledges every own op up to it.
                self.acknowledge(
                    unacked.saturating_sub(session.unacked()),
                    now,
                    offset.is_some(),
                );
            }
            Event::Error(e) if !e.fatal => return Ok(()),
            Event::Error(e) => return Err(format!("server error {}: {}", e.code, e.message)),
            Event::Connected { .. } | Event::Snapshot { .. } => {
                return Err("unexpected resync".to_owned());
            }
            Event::Dropped { code, seq, .. } => {
                return Err(format!("edit {seq} refused for good ({code})"));
            }
        }
        if let Some(offset) = offset {
            self.report.echoes.count(offset);
        }
        Ok(())
    }

    /// Times the `n` oldest own ops in flight as echoed at `now`.
    fn acknowledge(&mut self, n: usize, now: Instant, inside: bool) {
        for _ in 0..n {
            let Some((sent_at, counted)) = self.in_flight.pop_front() else {
                break;
            };
            if counted {
                self.report.latencies.record(now - sent_at);
            }
            if inside {
                self.report.acked += 1;
            }
        }
    }

    /// Makes one edit and sends it, one op per message (the bare server
    /// relies on it), noting when each op left.
    async fn type_one(
        &mut self,
        session: &mut ClientSession,
        sink: &mut Socket,
        rng: &mut Rng,
        schedule: &Schedule,
    ) -> Result<(), String> {
        edit(session, rng)?;
        while let Some(msg) = session.poll_send() {
            let ClientMessage::Op(batch) = msg else {
                continue;
            };
            for op in batch.ops {
                let text = ClientMessage::Op(OpBatch { ops: vec![op] }).to_json();
                let now = Instant::now();
                let inside = schedule.offset(now).is_some();
                self.in_flight.push_back((now, inside));
                self.report.sent += u64::from(inside);
                sink.send(Message::text(text))
                    .await
                    .map_err(|e| format!("send: {e}"))?;
            }
        }
        Ok(())
    }
}

/// A close frame's code and reason, for humans.
fn close_reason(frame: Option<CloseFrame>) -> String {
    match frame {
        Some(frame) => format!("code {}: {}", u16::from(frame.code), frame.reason),
        None => "no close code".to_owned(),
    }
}

/// One keystroke: a character typed at a random place, or now and then
/// one deleted.
fn edit(session: &mut ClientSession, rng: &mut Rng) -> Result<(), String> {
    let len = session.doc().len();
    let result = if len > 0 && rng.below(10) == 0 {
        session.delete(rng.below(len), 1)
    } else {
        let c = char::from(TYPED[rng.below(TYPED.len())]);
        session.insert(rng.below(len + 1), c.encode_utf8(&mut [0; 4]))
    };
    result.map_err(|e| format!("local edit: {e}"))
}
