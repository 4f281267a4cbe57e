//! The registry of loaded rooms: a document is loaded on its first `hello`
//! and unloaded after it has had no clients for a while, so memory follows
//! the documents in use.
//!
//! The registry's lock is only ever held to look a slot up or change it:
//! loading (a store read and the CPU work of rebuilding the document) runs
//! on tokio's blocking pool, while the document's slot says "loading" so
//! that a second first client waits for the same room instead of loading
//! another. A slow load of one document never delays another's `hello`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use collab_crdt::sync::ServerSeq;
use tokio::sync::watch;

use crate::commit::blocking_error;
use crate::room::{Context, Room, Unload};
use crate::store::{LoggedOp, Since, Store, StoreError};

/// A document's place in the registry.
enum Slot {
    /// Being loaded; the result is announced on the channel.
    Loading(watch::Receiver<Option<Result<Arc<Room>, String>>>),
    Ready(Arc<Room>),
}

pub struct Rooms {
    map: Mutex<HashMap<String, Slot>>,
    cx: Context,
    /// How many rooms are loaded, for whoever waits for a change (shutdown
    /// logic, tests) instead of polling.
    loaded: watch::Sender<usize>,
}

impl Rooms {
    pub fn new(cx: Context) -> Rooms {
        Rooms {
            map: Mutex::new(HashMap::new()),
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
            Some(Err(e)) => Err(StoreError::Backend(e)),
            None => Err(StoreError::Backend("the document was not loaded".into())),
        }
    }

    async fn load(
        self: Arc<Self>,
        doc_id: String,
        done: watch::Sender<Option<Result<Arc<Room>, String>>>,
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
                Err(e.to_string())
            }
        };
        drop(map);
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
