//! The registry of loaded rooms: a document is loaded on its first `hello`
//! and unloaded after it has had no clients for a while, so memory follows
//! the documents in use.
//!
//! The registry's lock is only ever held to look a slot up or change it:
//! loading (a store read and the CPU work of rebuilding the document) runs
//! on tokio's blocking pool, while the document's slot says "loading" so
//! that a second first client waits for the same room instead of loading
//! another. A slow load of one document never delays another's `hello`.
//!
//! On a store several relays share, the registry also follows the log for
//! its rooms ([`Rooms::follow`]): it reads what other relays committed
//! when the store announces it, when a room finds a gap, after a lost
//! announcement, and every [`POLL`] regardless.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use collab_crdt::sync::ServerSeq;
use tokio::sync::{broadcast, watch};

use crate::commit::blocking_error;
use crate::room::{Context, Room, Unload};
use crate::store::{LoggedOp, Notice, Since, Store, StoreError};

/// How often every room on a shared store reads the log regardless of
/// announcements: the safety net under `LISTEN`/`NOTIFY`.
pub const POLL: Duration = Duration::from_secs(1);

/// Log entries one catch-up read takes at most.
const PAGE: usize = 1_000;

/// A document's place in the registry.
enum Slot {
    /// Being loaded; the result is announced on the channel.
    Loading(watch::Receiver<Option<Result<Arc<Room>, LoadFailed>>>),
    Ready(Arc<Room>),
}

/// Why a load failed, shared by everyone who waited for it.
#[derive(Clone, Debug)]
struct LoadFailed {
    message: String,
    /// The store could not be reached (not the document's fault).
    unavailable: bool,
}

pub struct Rooms {
    map: Mutex<HashMap<String, Slot>>,
    /// Rooms whose log a catch-up is reading now: at most one read per
    /// room at a time; a request meanwhile marks it to read once more.
    following: Mutex<HashMap<Arc<str>, bool>>,
    cx: Context,
    /// How many rooms are loaded, for whoever waits for a change (shutdown
    /// logic, tests) instead of polling.
    loaded: watch::Sender<usize>,
}

impl Rooms {
    pub fn new(cx: Context) -> Rooms {
        Rooms {
            map: Mutex::new(HashMap::new()),
            following: Mutex::new(HashMap::new()),
            cx,
            loaded: watch::Sender::new(0),
        }
    }

    pub fn store(&self) -> &dyn Store {
        &*self.cx.store
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // Held only for map operations, which do not panic.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The room of `doc_id`, loading it from the store (or creating the
    /// document) when it is not loaded.
    pub async fn get(self: &Arc<Self>, doc_id: &str) -> Result<Arc<Room>, StoreError> {
        let mut loading = {
            let mut map = self.lock();
            match map.get(doc_id) {
                Some(Slot::Ready(room)) if !room.is_closed() => return Ok(room.clone()),
                Some(Slot::Loading(rx)) => rx.clone(),
                // Absent, or closed (unloaded, or broken by a store failure):
                // load it afresh.
                _ => {
                    let (tx, rx) = watch::channel(None);
                    map.insert(doc_id.to_owned(), Slot::Loading(rx.clone()));
                    // Spawned, not awaited here: the load completes and its
                    // slot is settled even if this client goes away.
                    tokio::spawn(self.clone().load(doc_id.to_owned(), tx));
                    rx
                }
            }
        };
        let result = loading
            .wait_for(Option::is_some)
            .await
            .map_err(|_| StoreError::Backend("the load of the document was abandoned".into()))?
            .clone();
        match result {
            Some(Ok(room)) => Ok(room),
            Some(Err(e)) if e.unavailable => Err(StoreError::Unavailable(e.message)),
            Some(Err(e)) => Err(StoreError::Backend(e.message)),
            None => Err(StoreError::Backend("the document was not loaded".into())),
        }
    }

    async fn load(
        self: Arc<Self>,
        doc_id: String,
        done: watch::Sender<Option<Result<Arc<Room>, LoadFailed>>>,
    ) {
        let started = Instant::now();
        let cx = self.cx.clone();
        let id = doc_id.clone();
        let loaded = tokio::task::spawn_blocking(move || {
            let stored = match cx.store.load(&id)? {
                Some(stored) => stored,
                None => cx.store.create(&id)?,
            };
            Room::load(&id, stored, cx).map(Arc::new)
        })
        .await
        .map_err(blocking_error)
        .and_then(|r| r);
        let mut map = self.lock();
        let result = match loaded {
            Ok(room) => {
                tracing::debug!(doc_id, head = %room.durable_head(), "room loaded");
                self.cx.metrics.room_loaded(started.elapsed());
                map.insert(doc_id, Slot::Ready(room.clone()));
                self.count(&map);
                Ok(room)
            }
            Err(e) => {
                tracing::error!(doc_id, error = %e, "document could not be loaded");
                map.remove(&doc_id);
                Err(LoadFailed {
                    message: e.to_string(),
                    unavailable: matches!(e, StoreError::Unavailable(_)),
                })
            }
        };
        drop(map);
        // Announcements of commits made while it loaded went unheard.
        if let Ok(room) = &result
            && self.cx.store.shared()
        {
            self.clone().spawn_catch_up(room.clone());
        }
        let _ = done.send(Some(result));
    }

    /// The first `server_seq` the store's log still holds, read on the
    /// blocking pool.
    pub async fn log_start(&self, doc_id: &str) -> Result<ServerSeq, StoreError> {
        let store = self.cx.store.clone();
        let doc_id = doc_id.to_owned();
        tokio::task::spawn_blocking(move || store.log_start(&doc_id))
            .await
            .map_err(blocking_error)?
    }

    /// Reads at most `max` logged operations after `after` (not past
    /// `upto`) on the blocking pool.
    pub async fn read_log(
        &self,
        doc_id: Arc<str>,
        after: ServerSeq,
        upto: ServerSeq,
        max: usize,
    ) -> Result<Since, StoreError> {
        let store = self.cx.store.clone();
        let since = tokio::task::spawn_blocking(move || store.read_since(&doc_id, after, max))
            .await
            .map_err(blocking_error)??;
        Ok(match since {
            Since::Ops(mut ops) => {
                // The store may already hold a batch whose commit the room
                // has not heard of yet: its echo is still to come.
                ops.retain(|op: &LoggedOp| op.server_seq <= upto);
                Since::Ops(ops)
            }
            Since::Truncated => Since::Truncated,
        })
    }

    /// Forgets a room that closed itself (after a store failure), so that
    /// the next client reloads the document from the store.
    pub fn forget(&self, room: &Arc<Room>) {
        let mut map = self.lock();
        if matches!(map.get(&*room.doc_id), Some(Slot::Ready(r)) if Arc::ptr_eq(r, room)) {
            map.remove(&*room.doc_id);
            self.count(&map);
        }
    }

    /// Publishes how many rooms are loaded.
    fn count(&self, map: &HashMap<String, Slot>) {
        let n = map
            .values()
            .filter(|slot| matches!(slot, Slot::Ready(_)))
            .count();
        self.cx.metrics.rooms.set(n as i64);
        self.loaded.send_replace(n);
    }

    /// Returns once the number of loaded rooms satisfies `until`.
    pub async fn wait_loaded(&self, until: impl FnMut(&usize) -> bool) {
        let _ = self.loaded.subscribe().wait_for(until).await.map(drop);
    }

    /// Called when a room's last client left: unloads it once it has stayed
    /// empty for the configured idle time.
    pub fn schedule_unload(self: &Arc<Self>, room: Arc<Room>) {
        let rooms = self.clone();
        let idle = self.cx.config.room_idle();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(idle).await;
                // The room closes itself under its own lock (a client that
                // joins meanwhile finds it closed and looks again); only
                // then is it taken out of the registry.
                match room.unload_if_idle(idle) {
                    Unload::Done => {
                        rooms.forget(&room);
                        tracing::debug!(doc_id = &*room.doc_id, "room unloaded");
                        return;
                    }
                    Unload::InUse => return,
                    Unload::NotYet => {}
                }
            }
        });
    }

    pub fn loaded(&self) -> usize {
        *self.loaded.borrow()
    }

    /// A loaded room, if any (for tests and inspection).
    pub fn loaded_room(&self, doc_id: &str) -> Option<Arc<Room>> {
        match self.lock().get(doc_id) {
            Some(Slot::Ready(room)) => Some(room.clone()),
            _ => None,
        }
    }

    /// Waits until every batch accepted so far is stored and its echoes
    /// queued.
    pub async fn flush(&self) {
        if let Some(commit) = &self.cx.commit {
            commit.flush().await;
        }
    }

    /// Writes a final snapshot of every room, closes them all, and waits
    /// until the store has everything.
    pub async fn close_all(&self) {
        let rooms: Vec<Arc<Room>> = self
            .lock()
            .drain()
            .filter_map(|(_, slot)| match slot {
                Slot::Ready(room) => Some(room),
                Slot::Loading(_) => None,
            })
            .collect();
        self.cx.metrics.rooms.set(0);
        self.loaded.send_replace(0);
        for room in rooms {
            room.close();
        }
        if let Some(commit) = &self.cx.commit {
            commit.flush().await;
            commit.stop();
        }
        let store = self.cx.store.clone();
        let closed = tokio::task::spawn_blocking(move || store.close()).await;
        if let Ok(Err(e)) = closed {
            tracing::warn!(error = %e, "store not closed cleanly");
        }
    }

    pub fn context(&self) -> &Context {
        &self.cx
    }
}

/// Following a shared store's log.
impl Rooms {
    /// Runs for the relay's life on a shared store: reads the log for a
    /// room when the store announces a commit it lacks, for every room
    /// when announcements may have been lost (and every [`POLL`]), and for
    /// rooms that found a gap in what they were given. The [`POLL`] is one
    /// query for the heads of all loaded documents.
    pub async fn follow(self: Arc<Self>, mut notices: broadcast::Receiver<Notice>) {
        let mut poll = tokio::time::interval(POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let lagging = self.cx.lagging.clone();
        loop {
            tokio::select! {
                notice = notices.recv() => match notice {
                    Ok(Notice::Head { doc_id, head }) => {
                        if let Some(room) = self.loaded_room(&doc_id)
                            && room.note_head(head)
                        {
                            self.clone().spawn_catch_up(room);
                        }
                    }
                    Ok(Notice::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.catch_up_all(|_| true);
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = poll.tick() => self.poll_heads().await,
                _ = lagging.notified() => self.catch_up_all(|room| room.lagging()),
            }
        }
    }

    /// The safety net: one look at the heads of every loaded document;
    /// those a room lacks are read. If the look fails, every room reads.
    async fn poll_heads(self: &Arc<Self>) {
        let ids: Vec<String> = self
            .lock()
            .iter()
            .filter(|(_, slot)| matches!(slot, Slot::Ready(room) if !room.is_closed()))
            .map(|(id, _)| id.clone())
            .collect();
        if ids.is_empty() {
            return;
        }
        let store = self.cx.store.clone();
        let heads = tokio::task::spawn_blocking(move || {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            store.heads(&ids)
        })
        .await
        .map_err(blocking_error)
        .and_then(|r| r);
        match heads {
            Ok(heads) => {
                for (doc_id, head) in heads {
                    if let Some(room) = self.loaded_room(&doc_id)
                        && room.note_head(head)
                    {
                        self.clone().spawn_catch_up(room);
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the heads; every room reads its log");
                self.catch_up_all(|_| true);
            }
        }
    }

    fn catch_up_all(self: &Arc<Self>, which: impl Fn(&Room) -> bool) {
        let rooms: Vec<Arc<Room>> = self
            .lock()
            .values()
            .filter_map(|slot| match slot {
                Slot::Ready(room) if !room.is_closed() && which(room) => Some(room.clone()),
                _ => None,
            })
            .collect();
        for room in rooms {
            self.clone().spawn_catch_up(room);
        }
    }

    /// Reads the log for `room` in a task of its own, unless a read for it
    /// is under way (which then reads once more).
    fn spawn_catch_up(self: Arc<Self>, room: Arc<Room>) {
        {
            let mut following = self.following.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(again) = following.get_mut(&room.doc_id) {
                *again = true;
                return;
            }
            following.insert(room.doc_id.clone(), false);
        }
        tokio::spawn(async move {
            loop {
                if let Err(e) = self.catch_up(&room).await {
                    tracing::warn!(doc_id = &*room.doc_id, error = %e, "cannot read the log; retrying at the next poll");
                }
                let mut following = self.following.lock().unwrap_or_else(|e| e.into_inner());
                match following.get_mut(&room.doc_id) {
                    Some(again) if *again => *again = false,
                    _ => {
                        following.remove(&room.doc_id);
                        return;
                    }
                }
            }
        });
    }

    /// Integrates into `room` everything the log holds past it, page by
    /// page. A room the log was cut behind is sent back to be reloaded.
    pub async fn catch_up(self: &Arc<Self>, room: &Arc<Room>) -> Result<(), StoreError> {
        while !room.is_closed() {
            let after = room.durable_head();
            let store = self.cx.store.clone();
            let doc_id = room.doc_id.clone();
            let since = tokio::task::spawn_blocking(move || store.read_since(&doc_id, after, PAGE))
                .await
                .map_err(blocking_error)??;
            match since {
                Since::Ops(ops) => {
                    let full = ops.len() == PAGE;
                    if !ops.is_empty() {
                        room.follow(ops);
                    }
                    if !full || room.durable_head() == after {
                        return Ok(());
                    }
                }
                Since::Truncated => {
                    room.cannot_follow();
                    self.forget(room);
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}
