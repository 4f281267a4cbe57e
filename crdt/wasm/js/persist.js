// persist.js: offline persistence of a CollabClient's document
// (`persist: 'indexeddb'`). The replica is kept as a snapshot (its
// `encode()` bytes) plus a log of the operations it integrated since,
// each entry with the session's place in the relay's log at that moment;
// a reload restores the same replica (same id, same next seq) with its
// unsent edits in the outbox. Local edits are written before they are
// sent (write-ahead): a replica reloaded from the store never reuses an id
// the relay may already hold for other text. Every load rewrites the
// snapshot and deletes the log, and so does a pause in the edits once the
// log has COMPACT_AFTER entries (or at once at COMPACT_MAX, should the edits
// never pause), so the store does not grow with the number of loads or
// edits, only with the document; encoding the snapshot (tens of
// milliseconds on a long document) stays off the typing path. One tab at a time owns a document's store (a Web Lock); a
// second tab of the same document runs without persistence.

import { ClientSession } from './collab_crdt.js';

/**
 * Opens document `key`'s store (`'indexeddb'`, or any class with a static
 * `open(key)` shaped like IndexedDbStore's) and restores the session it
 * holds, `configure`d: `{store, session}`, either null (no store: another
 * tab owns it; nothing stored yet).
 */
export async function openStore(persist, key, docId, configure) {
  const Store = persist === 'indexeddb' ? IndexedDbStore : persist;
  const store = await Store.open(key);
  const saved = store ? await store.load() : null;
  if (!saved) return { store, session: null };
  const { replicaId, snapshot, later, lastSeen, epoch, ackedSeq } = saved;
  let session;
  try {
    session = ClientSession.restore(docId, replicaId, snapshot, JSON.stringify(later), lastSeen, epoch ?? undefined, ackedSeq);
  } catch (err) {
    store.close();
    throw err;
  }
  configure(session);
  return { store, session };
}

/** Log entries after which the next pause rewrites the snapshot and empties the log. */
export const COMPACT_AFTER = 64;

/** How long the edits must pause before a due compaction runs. */
export const COMPACT_IDLE_MS = 2000;

/** Log entries at which the snapshot is rewritten at once, pause or not. */
export const COMPACT_MAX = 1024;

/** How long remote changes wait before they are logged (local edits go at once). */
export const REMOTE_DELAY_MS = 300;

const DB_NAME = 'collab-crdt';
const DOCS = 'docs';
const LOG = 'log';

/** A request or transaction as a promise. */
function done(target, event = 'success') {
  return new Promise((resolve, reject) => {
    target.addEventListener(event, () => resolve(target.result), { once: true });
    target.addEventListener('error', () => reject(target.error), { once: true });
    target.addEventListener('abort', () => reject(target.error ?? new Error('IndexedDB transaction aborted')), { once: true });
  });
}

/**
 * The store of one document in IndexedDB: `docs` holds `{replicaId,
 * snapshot, lastSeen, epoch, ackedSeq}` under the document's key, `log` the
 * entries `{ops, lastSeen, epoch, ackedSeq}` under `[key, n]`.
 */
export class IndexedDbStore {
  #db;
  #key;
  #release;
  #next = 0;

  constructor(db, key, release) {
    this.#db = db;
    this.#key = key;
    this.#release = release;
  }

  /**
   * Opens the store of document `key`, or resolves `null` when another tab
   * holds it (or the browser has no IndexedDB).
   */
  static async open(key, { indexedDB = globalThis.indexedDB, locks = globalThis.navigator?.locks } = {}) {
    if (!indexedDB) return null;
    const release = await lock(locks, `collab-crdt:${key}`);
    if (release === null) return null;
    try {
      const request = indexedDB.open(DB_NAME, 1);
      request.addEventListener('upgradeneeded', () => {
        request.result.createObjectStore(DOCS);
        request.result.createObjectStore(LOG);
      });
      return new IndexedDbStore(await done(request), key, release);
    } catch (err) {
      release();
      throw err;
    }
  }

  /** `{replicaId, snapshot, lastSeen, epoch, ackedSeq, later}` (later: the logged ops in order), or null. */
  async load() {
    const tx = this.#db.transaction([DOCS, LOG], 'readonly');
    const range = IDBKeyRange.bound([this.#key, 0], [this.#key, Infinity]);
    const [saved, keys, entries] = await Promise.all([
      done(tx.objectStore(DOCS).get(this.#key)),
      done(tx.objectStore(LOG).getAllKeys(range)),
      done(tx.objectStore(LOG).getAll(range)),
    ]);
    this.#next = keys.length === 0 ? 0 : keys.at(-1)[1] + 1;
    if (!saved) return null;
    const last = entries.at(-1) ?? saved;
    return {
      replicaId: saved.replicaId,
      snapshot: saved.snapshot,
      later: entries.flatMap((e) => e.ops),
      lastSeen: last.lastSeen,
      epoch: last.epoch,
      ackedSeq: last.ackedSeq,
    };
  }

  /** Appends a log entry; resolves once it is on disk. */
  append(entry) {
    const tx = this.#db.transaction(LOG, 'readwrite', { durability: 'strict' });
    tx.objectStore(LOG).put(entry, [this.#key, this.#next++]);
    return done(tx, 'complete');
  }

  /** Replaces the snapshot and deletes the whole log, in one transaction. */
  compact(state) {
    const tx = this.#db.transaction([DOCS, LOG], 'readwrite', { durability: 'strict' });
    tx.objectStore(DOCS).put(state, this.#key);
    tx.objectStore(LOG).delete(IDBKeyRange.bound([this.#key, 0], [this.#key, Infinity]));
    return done(tx, 'complete');
  }

  /** Deletes the document's snapshot and log. */
  clear() {
    const tx = this.#db.transaction([DOCS, LOG], 'readwrite', { durability: 'strict' });
    tx.objectStore(DOCS).delete(this.#key);
    tx.objectStore(LOG).delete(IDBKeyRange.bound([this.#key, 0], [this.#key, Infinity]));
    return done(tx, 'complete');
  }

  /** How many records the document holds (the snapshot and log entries): for tests. */
  async size() {
    const tx = this.#db.transaction([DOCS, LOG], 'readonly');
    const range = IDBKeyRange.bound([this.#key, 0], [this.#key, Infinity]);
    const [docs, log] = await Promise.all([done(tx.objectStore(DOCS).count(this.#key)), done(tx.objectStore(LOG).count(range))]);
    return docs + log;
  }

  close() {
    this.#db.close();
    this.#release();
  }
}

/**
 * Takes the Web Lock `name` if no one holds it and keeps it until the
 * returned function is called; resolves `null` when another tab holds it.
 * Without Web Locks (an old browser, Node.js) every caller gets it.
 */
function lock(locks, name) {
  if (!locks) return Promise.resolve(() => {});
  return new Promise((resolve, reject) => {
    locks
      .request(name, { ifAvailable: true }, (held) => {
        if (!held) {
          resolve(null);
          return undefined;
        }
        return new Promise((release) => resolve(release));
      })
      .catch(reject);
  });
}

/**
 * Writes one client's session to its store. `session()` gives the current
 * wasm session, `flush()` sends what waited for the disk.
 */
export class Persister {
  #store;
  #session;
  #flush;
  /** What the log (with the snapshot) holds: the version last written. */
  #logged;
  /** This replica's next seq as far as it is on disk. */
  #durableSeq;
  /** Set once close() let the store go. */
  #released = false;
  #entries = 0;
  #localQueued = false;
  #remoteTimer = null;
  #compactTimer = null;
  /** Writes run one after another, in order. */
  #chain = Promise.resolve();
  #closed = false;
  /** Set when a write failed and the store was emptied: edits go out unpersisted. */
  #failed = false;
  /** Called with the error when a write fails. */
  onError = () => {};

  constructor(store, session, flush) {
    this.#store = store;
    this.#session = session;
    this.#flush = flush;
    this.#logged = session().version();
    this.#durableSeq = this.#localSeq();
  }

  #localSeq() {
    const s = this.#session();
    return s.version().get(s.replicaId) ?? 0;
  }

  /** Whether every local edit is on disk (false once writes have failed). */
  saved() {
    return !this.#failed && !this.#closed && this.#durableSeq >= this.#localSeq();
  }

  /** Whether local edits wait for the disk before they may be sent. */
  behind() {
    return !this.#failed && this.#durableSeq < this.#localSeq();
  }

  /** A local edit: logged in the next microtask; the send waits for it. */
  localChanged() {
    if (this.#localQueued || this.#closed) return;
    this.#localQueued = true;
    queueMicrotask(() => {
      this.#localQueued = false;
      this.#write();
    });
  }

  /** Remote changes, acknowledgements: logged a little later, together. */
  remoteChanged() {
    if (this.#remoteTimer !== null || this.#closed) return;
    this.#remoteTimer = setTimeout(() => {
      this.#remoteTimer = null;
      this.#write();
    }, REMOTE_DELAY_MS);
  }

  /**
   * Appends what changed since the last write. A long log is compacted
   * once the edits pause: every write puts the pause off again.
   */
  #write() {
    if (this.#closed) return;
    if (this.#entries >= COMPACT_MAX) {
      this.compact();
      return;
    }
    const s = this.#session();
    const ops = s.opsSince(this.#logged);
    const entry = { ops, lastSeen: s.lastSeenServerSeq, epoch: s.epoch ?? null, ackedSeq: s.ackedSeq };
    this.#logged = s.version();
    this.#entries++;
    this.#queue(() => this.#store.append(entry));
    if (this.#entries >= COMPACT_AFTER) {
      clearTimeout(this.#compactTimer);
      this.#compactTimer = setTimeout(() => {
        this.#compactTimer = null;
        this.compact();
      }, COMPACT_IDLE_MS);
    }
  }

  /** Rewrites the snapshot and empties the log: the store's size is the document's. */
  compact() {
    if (this.#closed) return this.#chain;
    clearTimeout(this.#compactTimer);
    this.#compactTimer = null;
    const s = this.#session();
    const state = {
      replicaId: s.replicaId,
      snapshot: s.encode(),
      lastSeen: s.lastSeenServerSeq,
      epoch: s.epoch ?? null,
      ackedSeq: s.ackedSeq,
    };
    this.#logged = s.version();
    this.#entries = 0;
    return this.#queue(() => this.#store.compact(state));
  }

  #queue(write) {
    const seq = this.#localSeq();
    this.#chain = this.#chain.then(write).then(
      () => {
        this.#durableSeq = Math.max(this.#durableSeq, seq);
        if (!this.#closed) this.#flush();
      },
      (err) => this.#fail(err),
    );
    return this.#chain;
  }

  /**
   * A write failed (the disk is full, the user cleared the site's data):
   * the store is emptied, since a reload from an incomplete one could
   * reuse ids, and the client goes on without persistence. Should even
   * that fail, edits stay unsent rather than risk it.
   */
  #fail(err) {
    if (this.#failed) return;
    this.onError(err);
    this.#closed = true;
    this.#store.clear().then(() => {
      this.#failed = true;
      this.#flush();
    }, this.onError);
  }

  /**
   * Writes a last snapshot (unless writes failed), then lets the store go,
   * the Web Lock with it, so that another client of the document may own it.
   */
  async close() {
    if (this.#released) return;
    this.#released = true;
    clearTimeout(this.#remoteTimer);
    clearTimeout(this.#compactTimer);
    if (!this.#closed) {
      this.compact();
      this.#closed = true;
    }
    await this.#chain;
    this.#store.close();
  }
}
