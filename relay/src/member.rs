//! What a room holds for each connected client, below every other layer:
//! serialized messages ([`Frame`], [`Outgoing`]), the connection's send
//! queue bounded in bytes ([`Queue`]), the latest presence of the others
//! not yet sent to it ([`Inbox`]), the switch that ends a connection
//! ([`Kill`]), and the relay-wide bound on queued bytes ([`Budget`]).
//!
//! Nothing here knows about sockets: the room hands out JSON text, and the
//! connection's writer turns it into WebSocket frames.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use collab_crdt::sync::{ErrorCode, ServerSeq};
use tokio::sync::{Notify, mpsc, watch};

/// One serialized server message: JSON text, shared by every receiver.
/// Built only from a `String`, so it is always valid UTF-8.
#[derive(Clone, Debug)]
pub struct Frame(Bytes);

impl Frame {
    pub fn new(text: String) -> Frame {
        Frame(Bytes::from(text))
    }

    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// What the room queues for a connection: one accepted batch's echoes (or
/// one error), serialized once and shared by every member. Holds its
/// [`Charge`] against the relay's budget until the last member sent it.
#[derive(Clone)]
pub struct Outgoing(Arc<Batch>);

struct Batch {
    frames: Vec<Frame>,
    bytes: usize,
    _charge: Charge,
}

/// What one queue entry costs beyond its text: the entry, its `Arc`, the
/// frames' headers. Counting it keeps a flood of tiny entries bounded too.
const ENTRY_OVERHEAD: usize = 64;

impl Outgoing {
    pub fn new(frames: Vec<Frame>, budget: &Arc<Budget>) -> Outgoing {
        let bytes = frames.iter().map(Frame::len).sum::<usize>() + ENTRY_OVERHEAD;
        Outgoing(Arc::new(Batch {
            frames,
            bytes,
            _charge: budget.charge(bytes),
        }))
    }

    pub fn frames(&self) -> &[Frame] {
        &self.0.frames
    }

    /// Bytes this entry counts for in a queue.
    pub fn bytes(&self) -> usize {
        self.0.bytes
    }
}

/// Why and how a connection is ending.
#[derive(Clone, Debug)]
pub struct Closing {
    pub code: ErrorCode,
    pub message: String,
}

impl Closing {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Closing {
        Closing {
            code,
            message: message.into(),
        }
    }
}

/// The one-shot switch that ends a connection. Whoever decides (the room
/// on a full queue or a superseding client, the budget's reaper, the
/// reader on bad input, shutdown) fires it once; the writer then sends the
/// `error` and the close frame.
pub struct Kill {
    tx: watch::Sender<Option<Closing>>,
}

impl Kill {
    pub fn new() -> (Arc<Kill>, watch::Receiver<Option<Closing>>) {
        let (tx, rx) = watch::channel(None);
        (Arc::new(Kill { tx }), rx)
    }

    /// Ends the connection with `code`; only the first call counts.
    pub fn fire(&self, code: ErrorCode, message: impl Into<String>) {
        let message = message.into();
        self.tx.send_if_modified(|closing| {
            if closing.is_some() {
                return false;
            }
            *closing = Some(Closing { code, message });
            true
        });
    }

    pub fn is_fired(&self) -> bool {
        self.tx.borrow().is_some()
    }
}

/// A connection's send queue, bounded in bytes: the room never waits for a
/// client; a push past the bound fails and the room evicts the client.
#[derive(Clone)]
pub struct Queue {
    tx: mpsc::UnboundedSender<Outgoing>,
    shared: Arc<QueueShared>,
    limit: usize,
}

/// The receiving end, drained by the connection's writer.
pub struct QueueRx {
    rx: mpsc::UnboundedReceiver<Outgoing>,
    shared: Arc<QueueShared>,
    budget: Arc<Budget>,
    id: u64,
}

/// What the queue's two ends and the budget's reaper share.
struct QueueShared {
    bytes: AtomicUsize,
    kill: Arc<Kill>,
}

/// The queue was full: its client reads too slowly.
#[derive(Debug)]
pub struct Full;

impl Queue {
    /// A queue of at most `limit` bytes for the connection `kill` ends,
    /// registered with `budget` so that its reaper can evict it.
    pub fn new(limit: usize, kill: Arc<Kill>, budget: &Arc<Budget>) -> (Queue, QueueRx) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(QueueShared {
            bytes: AtomicUsize::new(0),
            kill,
        });
        let id = budget.register(&shared);
        let queue = Queue {
            tx,
            shared: shared.clone(),
            limit,
        };
        let rx = QueueRx {
            rx,
            shared,
            budget: budget.clone(),
            id,
        };
        (queue, rx)
    }

    /// Queues `out` unless that would take the queue past its bound. An
    /// empty queue takes any entry, so that a batch larger than the bound
    /// is still delivered to a client that keeps up.
    pub fn push(&self, out: Outgoing) -> Result<(), Full> {
        let size = out.bytes();
        let before = self.shared.bytes.fetch_add(size, Ordering::AcqRel);
        if (before > 0 && before + size > self.limit) || self.tx.send(out).is_err() {
            self.shared.bytes.fetch_sub(size, Ordering::AcqRel);
            return Err(Full);
        }
        Ok(())
    }
}

impl QueueRx {
    /// The next entry. It still counts against the queue until
    /// [`QueueRx::sent`]: a writer stuck sending it to a client that does
    /// not read holds it as surely as the queue did.
    pub async fn recv(&mut self) -> Option<Outgoing> {
        self.rx.recv().await
    }

    pub fn try_recv(&mut self) -> Option<Outgoing> {
        self.rx.try_recv().ok()
    }

    /// `out`, taken from this queue, went out to the socket.
    pub fn sent(&self, out: &Outgoing) {
        self.shared.bytes.fetch_sub(out.bytes(), Ordering::AcqRel);
    }
}

impl Drop for QueueRx {
    fn drop(&mut self) {
        self.budget.unregister(self.id);
    }
}

/// The other members' presence not yet sent to one connection: at most
/// one frame per replica, a newer one replacing the unsent older one. It
/// sits beside the send queue, not in it, so that presence never waits
/// behind echoes nor makes them wait, and a client that reads slowly or a
/// member that moves its caret fast costs at most one frame per member
/// (each frame's bytes are shared by every inbox holding it).
#[derive(Default)]
pub struct Inbox {
    frames: Mutex<HashMap<u64, Frame>>,
    ready: Notify,
}

impl Inbox {
    /// Replaces `replica_id`'s unsent presence with `frame`.
    pub fn put(&self, replica_id: u64, frame: Frame) {
        self.lock().insert(replica_id, frame);
        self.ready.notify_one();
    }

    /// Everything waiting, in no particular order (each frame names its
    /// replica, and at most one per replica is left).
    pub fn take(&self) -> Vec<Frame> {
        self.lock().drain().map(|(_, frame)| frame).collect()
    }

    /// Returns once something was put since the last wake-up.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Frame>> {
        // Nothing panics while holding it; a poisoned map is still whole.
        self.frames.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A member's own presence, as the room keeps it: the latest only.
#[derive(Default)]
pub struct OwnPresence {
    /// The `presence` message to send the others, serialized once.
    pub frame: Option<Frame>,
    /// When it was last fanned out: the rate limit's clock.
    pub sent_at: Option<tokio::time::Instant>,
    /// Set when `frame` is newer than what was fanned out.
    pub pending: bool,
}

/// A connected client as the room sees it.
pub struct Member {
    pub replica_id: u64,
    pub queue: Queue,
    pub kill: Arc<Kill>,
    /// Where the client's catch-up ended: echoes up to here it already has.
    pub caught_up: ServerSeq,
    /// Whether the client asked for the others' presence (`hello.presence`).
    pub wants_presence: bool,
    /// Its token's `sub` (the user), carried in its presence updates;
    /// `None` on an open relay.
    pub sub: Option<String>,
    pub inbox: Arc<Inbox>,
    pub presence: OwnPresence,
}

/// The relay-wide bound on bytes held in queued messages. Every
/// [`Outgoing`] is charged once, however many queues share it, and
/// released when the last one sent it. Past the bound, the reaper evicts
/// the connections holding the most queued bytes (`too_slow`) until the
/// bound is met again: slow readers pay, not the clients that keep up.
pub struct Budget {
    limit: usize,
    used: AtomicUsize,
    next_id: AtomicU64,
    queues: Mutex<HashMap<u64, Weak<QueueShared>>>,
    over: Notify,
}

/// Bytes charged against a [`Budget`], released on drop.
pub struct Charge {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

impl Budget {
    pub fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget {
            limit,
            used: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
            queues: Mutex::new(HashMap::new()),
            over: Notify::new(),
        })
    }

    /// Bytes held in queued messages now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Charges `bytes`; wakes the reaper when that passes the bound.
    pub fn charge(self: &Arc<Budget>, bytes: usize) -> Charge {
        let used = self.used.fetch_add(bytes, Ordering::AcqRel) + bytes;
        if used > self.limit {
            self.over.notify_one();
        }
        Charge {
            budget: self.clone(),
            bytes,
        }
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Weak<QueueShared>>> {
        // Nothing panics while holding it; a poisoned map is still whole.
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn register(&self, queue: &Arc<QueueShared>) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.registry().insert(id, Arc::downgrade(queue));
        id
    }

    fn unregister(&self, id: u64) {
        self.registry().remove(&id);
    }

    /// Runs until the relay stops: whenever the bound is passed, evicts the
    /// connections with the largest queues until what they hold would bring
    /// the total back under it. Their memory is freed once their writers
    /// have dropped their queues.
    pub async fn reap(self: Arc<Budget>) {
        loop {
            self.over.notified().await;
            let used = self.used();
            if used <= self.limit {
                continue;
            }
            let mut queues: Vec<(usize, Arc<QueueShared>)> = self
                .registry()
                .values()
                .filter_map(Weak::upgrade)
                .filter(|q| !q.kill.is_fired())
                .map(|q| (q.bytes.load(Ordering::Acquire), q))
                .collect();
            queues.sort_unstable_by_key(|q| std::cmp::Reverse(q.0));
            let mut freed = 0;
            for (bytes, queue) in queues {
                if used - freed.min(used) <= self.limit || bytes == 0 {
                    break;
                }
                tracing::warn!(
                    queued = bytes,
                    used,
                    limit = self.limit,
                    "relay-wide queue budget exceeded: evicting the slowest reader"
                );
                queue.kill.fire(
                    ErrorCode::TooSlow,
                    "the relay's send buffers are full and this connection holds the most",
                );
                freed += bytes;
            }
        }
    }
}
