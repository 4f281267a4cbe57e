//! The registry of loaded rooms: a document is loaded on its first `hello`
//! and unloaded after it has had no clients for a while, so memory follows
//! the documents in use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::commit::{self, CommitQueue, Job};
use crate::config::Config;
use crate::room::{Room, Unload};
use crate::store::{Store, StoreError};

pub struct Rooms {
    map: Mutex<HashMap<String, Arc<Room>>>,
    store: Arc<dyn Store>,
    /// The group-commit thread's queue, when the store is durable.
    commit: Option<CommitQueue>,
    config: Arc<Config>,
}

impl Rooms {
    pub fn new(store: Arc<dyn Store>, config: Arc<Config>) -> Rooms {
        // The thread ends when the last queue handle is dropped.
        let commit = store.durable().then(|| commit::start(store.clone()).0);
        Rooms {
            map: Mutex::new(HashMap::new()),
            store,
            commit,
            config,
        }
    }

    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Room>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The room of `doc_id`, loading it from the store (or creating the
    /// document) when it is not loaded. Loading happens under the registry
    /// lock so that two first clients cannot load two rooms.
    pub fn get(&self, doc_id: &str) -> Result<Arc<Room>, StoreError> {
        let mut map = self.lock();
        if let Some(room) = map.get(doc_id) {
            // A room broken by a store failure stays in the map until its
            // connection forgets it; it must not be handed out meanwhile.
            if !room.is_closed() {
                return Ok(room.clone());
            }
            map.remove(doc_id);
        }
        let stored = match self.store.load(doc_id)? {
            Some(stored) => stored,
            None => self.store.create(doc_id)?,
        };
        let room = Arc::new(Room::load(
            doc_id,
            stored,
            self.store.clone(),
            self.commit.clone(),
            self.config.clone(),
        )?);
        tracing::debug!(doc_id, head = %room.durable_head(), "room loaded");
        map.insert(doc_id.to_owned(), room.clone());
        Ok(room)
    }

    /// Forgets a room that closed itself (after a store failure), so that
    /// the next client reloads the document from the store.
    pub fn forget(&self, room: &Arc<Room>) {
        let mut map = self.lock();
        if map.get(&*room.doc_id).is_some_and(|r| Arc::ptr_eq(r, room)) {
            map.remove(&*room.doc_id);
        }
    }

    /// Called when a room's last client left: unloads it once it has stayed
    /// empty for the configured idle time.
    pub fn schedule_unload(self: &Arc<Self>, room: Arc<Room>) {
        let rooms = self.clone();
        let idle = self.config.room_idle();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(idle).await;
                // The registry lock first, then the room's: the same order
                // as `get` followed by `join`, so a client cannot slip in
                // between.
                let mut map = rooms.lock();
                match room.unload_if_idle(idle) {
                    Unload::Done => {
                        if map
                            .get(&*room.doc_id)
                            .is_some_and(|r| Arc::ptr_eq(r, &room))
                        {
                            map.remove(&*room.doc_id);
                            tracing::debug!(doc_id = &*room.doc_id, "room unloaded");
                        }
                        return;
                    }
                    Unload::InUse => return,
                    Unload::NotYet => {}
                }
            }
        });
    }

    pub fn loaded(&self) -> usize {
        self.lock().len()
    }

    /// A loaded room, if any (for tests and inspection).
    pub fn loaded_room(&self, doc_id: &str) -> Option<Arc<Room>> {
        self.lock().get(doc_id).cloned()
    }

    /// Writes a final snapshot of every room, closes them all, and waits
    /// until the store has everything.
    pub async fn close_all(&self) {
        let rooms: Vec<Arc<Room>> = self.lock().drain().map(|(_, room)| room).collect();
        for room in rooms {
            room.close();
        }
        if let Some(commit) = &self.commit {
            let (done, flushed) = tokio::sync::oneshot::channel();
            if commit.send(Job::Flush(done)) {
                let _ = flushed.await;
            }
        }
        if let Err(e) = self.store.close() {
            tracing::warn!(error = %e, "store not closed cleanly");
        }
    }
}
