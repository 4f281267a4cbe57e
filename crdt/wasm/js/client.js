// client.js: CollabClient keeps one document in sync with a collab relay
// over a WebSocket. The protocol itself runs in the wasm ClientSession (the
// same Rust code the native clients and tests run); this file owns only the
// socket, the timers and the events: connect, say hello, feed frames to the
// session, send what it has to send, and reconnect with backoff and jitter
// when the connection drops. Local edits are kept until the relay echoes
// them, across any number of reconnects. Presence (carets, selections and
// who is there, docs/protocol.md §5a) is spoken here rather than in the
// wasm module, whose size budget it would strain: selections are kept as
// anchors the session makes (`anchorAt`) and resolves against the current
// text on every read (`resolveAnchor`, anchors.js), as the native session
// does. Undo is the session's (docs/crdt.md §14): this file passes it the
// clock and turns its result into a `change` event. With `persist`,
// persist.js keeps the session in IndexedDB and every edit is on disk
// before it is sent.

import { ClientSession } from './collab_crdt.js';
import { resolveAnchor, selectionAnchors } from './anchors.js';
import { openStore, Persister } from './persist.js';
import { RECONNECT_DEFAULTS, randomReplicaId, reconnectDelay, relayWebSocketUrl } from './reconnect.js';

export { RECONNECT_DEFAULTS, randomReplicaId, reconnectDelay, relayWebSocketUrl };

/** Close codes after which reconnecting cannot help (docs/protocol.md §7). */
const NO_RETRY = new Map([
  [1003, 'binary_frame'],
  [4000, 'protocol_error'],
  [4001, 'handshake'],
  [4009, 'superseded'],
]);

/**
 * Token refusals (docs/protocol.md §7): final with a fixed `token`; with
 * `getToken` a new token may fix them, so the client tries again.
 */
const UNAUTHORIZED = 4010;
const TOKEN_EXPIRED = 4011;

/** The relay evicted a slow reader: reconnect at once, replay catches up. */
const TOO_SLOW = 4008;

/** A normal close, the only code below 3000 a browser may send. */
const NORMAL = 1000;

const OPEN = 1;

/**
 * How often an unchanged presence is sent again: the relay forgets one not
 * refreshed within its TTL (30 s by default, docs/protocol.md §5a).
 */
export const PRESENCE_REFRESH_MS = 10_000;

export class CollabClient {
  #session;
  #url;
  #WebSocket;
  #policy;
  #random;
  /** @type {Map<string, Set<Function>>} */
  #listeners = new Map();
  /** The current socket; every handler checks it so a stale socket is ignored. */
  #ws = null;
  #state = 'offline';
  /** Failed attempts since the last stable connection: the backoff's exponent. */
  #attempt = 0;
  #retryTimer = null;
  #retryAt = null;
  #connectTimer = null;
  #resendTimer = null;
  /** When the current connection went live, to tell a stable one from a flapping one. */
  #liveSince = null;
  /** Set by goOffline(): do not connect until goOnline(). */
  #paused = false;
  #closed = false;
  /** holdRemote() depth, and the frames that arrived meanwhile with their socket. */
  #holds = 0;
  #held = [];
  #flushQueued = false;
  #savedServerSeq = 0;
  /** The relay's head when this connection joined: caught up once integrated. */
  #joinHead = 0;
  #lastError = null;
  /** This client's presence as last set (selections as anchors), whether it is unsent, and its refresh timer. */
  #presenceSelections = [];
  #presenceData = undefined;
  #presenceSet = false;
  #presenceDirty = false;
  #presenceTimer = null;
  /** The others' presence by replica id, selections as anchors; emptied when the connection ends. */
  #others = new Map();
  /** `options.getToken`, called before every connection; or null. */
  #getToken = null;
  /** Counts connection attempts, so that a token arriving late for an abandoned one is dropped. */
  #opening = 0;
  /** The wait a `rate_limited` refusal asked for. */
  #rateTimer = null;
  #onOnline = () => this.reconnectNow();
  /** The clock undo groups edits by (milliseconds, monotonic). */
  #now;
  /** With `persist`: writes the session to its store (persist.js); null without, or while loading. */
  #persist = null;
  /** False while the stored document loads: edits wait for `ready`. */
  #loaded = true;

  /**
   * @param {import('./client.d.ts').CollabClientOptions} options
   */
  constructor(options) {
    const {
      url,
      docId,
      replicaId = randomReplicaId(),
      WebSocket = globalThis.WebSocket,
      reconnect = {},
      random = Math.random,
      connect = true,
      token,
      getToken,
      undo = {},
      now = () => globalThis.performance.now(),
      persist,
    } = options ?? {};
    if (!url) throw new TypeError('CollabClient: options.url is required');
    if (!docId) throw new TypeError('CollabClient: options.docId is required');
    if (typeof WebSocket !== 'function') throw new TypeError('CollabClient: no WebSocket implementation');
    if (getToken !== undefined && typeof getToken !== 'function') {
      throw new TypeError('CollabClient: options.getToken must be a function');
    }
    this.#session = new ClientSession(docId, replicaId);
    const configure = (session) => {
      if (token !== undefined) session.setToken(token);
      if (undo.captureTimeoutMs !== undefined) session.setCaptureTimeout(undo.captureTimeoutMs);
    };
    configure(this.#session);
    this.#now = now;
    this.#getToken = getToken ?? null;
    this.#url = relayWebSocketUrl(url);
    this.#WebSocket = WebSocket;
    this.#policy = Object.freeze({ ...RECONNECT_DEFAULTS, ...reconnect });
    this.#random = random;
    globalThis.addEventListener?.('online', this.#onOnline);
    /** Resolves once the stored document (with `persist`) is loaded; edit after it. */
    this.ready = persist ? this.#load(persist, connect, configure) : Promise.resolve();
    if (!persist && connect) this.#open();
  }

  /**
   * Restores the replica the document's store holds (persist.js), then
   * connects. Without the store (another tab owns it, no IndexedDB) the
   * client goes on as a fresh replica, unpersisted.
   */
  async #load(persist, connect, configure) {
    this.#loaded = false;
    try {
      const { store, session } = await openStore(persist, `${this.#url} ${this.docId}`, this.docId, configure);
      if (this.#closed) {
        store?.close();
        session?.free();
        return;
      }
      if (session) {
        this.#session.free();
        this.#session = session;
        this.#savedServerSeq = session.lastSeenServerSeq;
        const text = session.text();
        const splices = text ? [{ index: 0, deleteCount: 0, insert: text }] : [];
        if (text) this.#emit('change', { origin: 'snapshot', serverSeq: this.#savedServerSeq, splices });
      }
      if (store) {
        this.#persist = new Persister(store, () => this.#session, () => this.#flush());
        this.#persist.onError = (err) => this.#emit('error', { code: 'persist_failed', message: String(err?.message ?? err) });
        // The store is rewritten on every load: it never grows with them.
        await this.#persist.compact();
      }
    } finally {
      this.#loaded = true;
      if (!this.#closed) {
        this.#emitStatus();
        if (connect) this.#open();
      }
    }
  }

  /** Whether this client keeps its document in a store (false while loading, and for a second tab). */
  get persisted() {
    return this.#persist !== null;
  }

  /**
   * Whether every local edit is in the store, so a tab closed now loses
   * none of them (with `persist`; false without, or once writes failed).
   */
  get saved() {
    return this.#persist?.saved() ?? false;
  }

  get docId() {
    return this.#session.docId;
  }

  get replicaId() {
    return this.#session.replicaId;
  }

  get url() {
    return this.#url;
  }

  /** `connecting`, `syncing`, `live`, `reconnecting`, `offline` or `closed`. */
  get state() {
    return this.#state;
  }

  /** Everything a status line shows; also the payload of `status` events. */
  get status() {
    return {
      state: this.#state,
      docId: this.docId,
      replicaId: this.replicaId,
      serverSeq: this.#closed ? this.#savedServerSeq : this.#session.lastSeenServerSeq,
      savedServerSeq: this.#savedServerSeq,
      pending: this.#closed ? 0 : this.#session.unacked,
      attempt: this.#attempt,
      readOnly: this.#closed ? false : this.#session.readOnly,
      retryInMs: this.#retryAt === null ? null : Math.max(0, this.#retryAt - Date.now()),
      error: this.#lastError,
    };
  }

  /** The text, with every local edit and every remote one received. */
  text() {
    this.#checkOpen();
    return this.#session.text();
  }

  /** Length of the text in UTF-16 code units. */
  get length() {
    this.#checkOpen();
    return this.#session.length;
  }

  /** The local replica's snapshot bytes (what `Doc.decode` reads). */
  encode() {
    this.#checkOpen();
    return this.#session.encode();
  }

  /** Inserts `text` at UTF-16 offset `index`. */
  insert(index, text) {
    this.#edit(() => this.#session.insert(index, text));
  }

  /** Deletes `length` UTF-16 code units at `index`. */
  delete(index, length) {
    this.#edit(() => this.#session.delete(index, length));
  }

  /** Replaces `length` UTF-16 code units at `index` with `text`. */
  replace(index, length, text) {
    this.#edit(() => this.#session.replace(index, length, text));
  }

  /**
   * Undoes this user's latest step (edits less than `undo.captureTimeoutMs`
   * apart, or up to `stopCapturing()`), leaving everyone else's text alone:
   * a `change` event (origin `undo`) carries the splices to apply, then
   * this returns `{caret}`, the UTF-16 offset where the caret goes; `null`
   * when there is nothing to undo. The undo is sent like any edit.
   */
  undo() {
    return this.#revert('undo');
  }

  /** Redoes the latest undone step, as `undo()` does (origin `redo`). */
  redo() {
    return this.#revert('redo');
  }

  /** Whether `undo()` has a step to undo. */
  get canUndo() {
    return !this.#closed && this.#session.canUndo;
  }

  /** Whether `redo()` has a step to redo; any new edit empties it. */
  get canRedo() {
    return !this.#closed && this.#session.canRedo;
  }

  /** Ends the current undo step: the next edit starts a new one, however soon. */
  stopCapturing() {
    this.#checkOpen();
    this.#session.stopCapturing();
  }

  /**
   * Sets this client's presence, sent to everyone else in the document:
   * `selections`, an array of `{anchor, head}` UTF-16 offsets (equal for a
   * caret), and `data`, a JSON-serialisable object such as `{name, color}`
   * (`null` removes it). A part left out keeps its last value. It is kept
   * across reconnects and refreshed before the relay's TTL.
   */
  setPresence({ selections, data } = {}) {
    this.#checkOpen();
    if (selections !== undefined) {
      this.#presenceSelections = selections.map(({ anchor, head }) => selectionAnchors(this.#session, anchor, head));
    }
    if (data !== undefined && data !== null && (typeof data !== 'object' || Array.isArray(data))) {
      throw new TypeError('CollabClient.setPresence: data must be an object or null');
    }
    if (data !== undefined) this.#presenceData = data ?? undefined;
    this.#presenceSet = true;
    this.#presenceDirty = true;
    this.#presenceTimer ??= setInterval(() => {
      this.#presenceDirty = true;
      this.#flush();
    }, PRESENCE_REFRESH_MS);
    this.#queueFlush();
  }

  /**
   * Everyone else's presence, by replica id: `{replicaId, sub, data,
   * selections: [{anchor, head}]}` with offsets in UTF-16 units of the
   * current text (local edits included). A selection naming text this
   * client has not received yet is left out until it arrives. Empty while
   * offline.
   */
  get presence() {
    const map = new Map();
    if (this.#closed) return map;
    for (const [replicaId, { sub, data, selections }] of this.#others) {
      const resolved = [];
      for (const s of selections) {
        const anchor = resolveAnchor(this.#session, s?.anchor);
        const head = resolveAnchor(this.#session, s?.head);
        if (anchor !== null && head !== null) resolved.push({ anchor, head });
      }
      map.set(replicaId, { replicaId, sub, data, selections: resolved });
    }
    return map;
  }

  /**
   * Subscribes to `status`, `change`, `saved`, `error`, `presence` or
   * `beforeRemote`; returns the function that unsubscribes.
   */
  on(type, listener) {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  off(type, listener) {
    this.#listeners.get(type)?.delete(listener);
  }

  /**
   * Stops integrating frames from the relay until the matching
   * `releaseRemote()`; they wait in order. A textarea binding holds during
   * an IME composition, whose text must not change under it.
   */
  holdRemote() {
    this.#holds++;
  }

  releaseRemote() {
    if (this.#holds === 0) return;
    this.#holds--;
    while (this.#holds === 0 && this.#held.length > 0) {
      const [ws, frame] = this.#held.shift();
      if (ws === this.#ws) this.#receive(frame);
    }
  }

  /**
   * Sets the token the next connections show (without `getToken`); the
   * current connection keeps the one it was opened with.
   */
  setToken(token) {
    this.#checkOpen();
    this.#session.setToken(token ?? undefined);
  }

  /** Simulates losing the network: closes the socket and stays offline, editing locally, until goOnline(). */
  goOffline() {
    if (this.#closed) return;
    this.#paused = true;
    this.#clearRetry();
    this.#disconnect(null);
    this.#setState('offline');
  }

  /** Ends goOffline() (or a stop after a fatal close) and connects at once. */
  goOnline() {
    if (this.#closed) return;
    this.#paused = false;
    this.#attempt = 0;
    this.#lastError = null;
    if (!this.#ws) {
      this.#clearRetry();
      this.#open();
    }
  }

  /** Skips the backoff wait, if one is running. */
  reconnectNow() {
    if (this.#closed || this.#paused || this.#ws) return;
    this.#clearRetry();
    this.#open();
  }

  /**
   * Closes the connection for good and frees the wasm session. Local edits
   * not yet saved are lost, unless persisted. Resolves once a persisted
   * document's store is written and let go (open it again after that).
   */
  close() {
    if (this.#closed) return Promise.resolve();
    this.#clearRetry();
    this.#disconnect(null);
    globalThis.removeEventListener?.('online', this.#onOnline);
    clearInterval(this.#presenceTimer);
    this.#closed = true;
    this.#setState('closed');
    this.#listeners.clear();
    // A last snapshot goes to the store (taken now, written after).
    const released = this.#persist?.close() ?? Promise.resolve();
    this.#persist = null;
    this.#session.free();
    return released;
  }

  #checkOpen() {
    if (this.#closed) throw new Error('CollabClient: closed');
  }

  /** A `presence` or `presence_removed` message from the relay. */
  #receivePresence(msg) {
    const id = msg.replica_id;
    if (!Number.isSafeInteger(id)) return;
    if (msg.type === 'presence_removed') this.#others.delete(id);
    else if (id !== this.replicaId) {
      this.#others.set(id, {
        sub: msg.sub ?? null,
        data: msg.data ?? null,
        selections: Array.isArray(msg.selections) ? msg.selections : [],
      });
    }
    this.#emit('presence', this.presence);
  }

  #edit(apply) {
    this.#checkOpen();
    if (!this.#loaded) throw new Error('CollabClient: the stored document is loading: await client.ready');
    this.#session.setClock(this.#now());
    apply();
    this.#persist?.localChanged();
    this.#queueFlush();
    this.#emitStatus();
  }

  #revert(which) {
    this.#checkOpen();
    // A binding pushes input it has not reported yet: it joins the history first.
    this.#emit('beforeRemote');
    if (!this.#loaded) return null;
    const done = this.#session[which]();
    if (done === null) return null;
    this.#persist?.localChanged();
    this.#emit('change', { origin: which, splices: done.splices, caret: done.caret });
    this.#queueFlush();
    this.#emitStatus();
    return { caret: done.caret };
  }

  /** Sends what the session has, once the current task is done (edits made together go together). */
  #queueFlush() {
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(() => {
        this.#flushQueued = false;
        this.#flush();
      });
    }
  }

  #emit(type, detail) {
    const set = this.#listeners.get(type);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(detail);
      } catch (err) {
        // A failing listener must not break the client: report it apart.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  #emitStatus() {
    this.#emit('status', this.status);
  }

  #setState(state) {
    this.#state = state;
    this.#emitStatus();
  }

  #open() {
    // While the stored document loads, #load connects once it is in.
    if (this.#closed || this.#paused || this.#ws || !this.#loaded) return;
    if (!this.#getToken) {
      this.#openSocket();
      return;
    }
    // A fresh token for every connection: an expired one is replaced
    // before the relay sees it, and the outbox waits meanwhile.
    const opening = ++this.#opening;
    this.#setState('connecting');
    let pending;
    try {
      pending = Promise.resolve(this.#getToken());
    } catch (err) {
      pending = Promise.reject(err);
    }
    const stale = () => opening !== this.#opening || this.#closed || this.#paused || this.#ws;
    const fail = (error) => {
      this.#opening++; // an answer after this is for an abandoned attempt
      this.#lastError = error;
      this.#emit('error', error);
      this.#scheduleRetry();
    };
    // A getToken that never answers must not leave the client waiting for good.
    const timer = setTimeout(() => {
      if (!stale()) fail({ code: 'token_timeout', message: `getToken did not answer within ${this.#policy.connectTimeoutMs} ms` });
    }, this.#policy.connectTimeoutMs);
    pending.then(
      (token) => {
        clearTimeout(timer);
        if (stale()) return;
        this.#session.setToken(token ?? undefined);
        this.#openSocket();
      },
      (err) => {
        clearTimeout(timer);
        if (!stale()) fail({ code: 'token_unavailable', message: String(err?.message ?? err) });
      },
    );
  }

  #openSocket() {
    let ws;
    try {
      ws = new this.#WebSocket(this.#url);
    } catch (err) {
      this.#lastError = { code: 'connect_failed', message: String(err?.message ?? err) };
      this.#scheduleRetry();
      return;
    }
    this.#ws = ws;
    this.#setState('connecting');
    ws.onopen = () => {
      if (ws === this.#ws) ws.send(this.#session.connect());
    };
    ws.onmessage = (event) => {
      if (ws !== this.#ws || typeof event.data !== 'string') return;
      if (this.#holds > 0) this.#held.push([ws, event.data]);
      else this.#receive(event.data);
    };
    ws.onclose = (event) => {
      if (ws === this.#ws) this.#lost(event.code, event.reason);
    };
    ws.onerror = () => {};
    this.#connectTimer = setTimeout(() => {
      if (ws === this.#ws && this.#state !== 'live') {
        this.#drop({ code: 'connect_timeout', message: `no answer within ${this.#policy.connectTimeoutMs} ms` });
      }
    }, this.#policy.connectTimeoutMs);
  }

  #receive(frame) {
    // The relay writes `type` first; presence never reaches the session.
    if (frame.startsWith('{"type":"presence')) {
      this.#receiveFrame(frame);
      return;
    }
    this.#emit('beforeRemote');
    let event;
    try {
      event = this.#session.receive(frame);
    } catch (err) {
      if (err.code === 'unknown_type' && this.#receiveFrame(frame)) return;
      // The relay broke the protocol (a gap in server_seq, a bad frame):
      // drop the connection; the next hello repairs it by replay or snapshot.
      const error = { code: err.code ?? 'internal_error', message: err.message };
      this.#emit('error', error);
      this.#drop(error);
      return;
    }
    this.#persist?.remoteChanged();
    switch (event.type) {
      case 'connected':
        // With a replay the session sends local edits at once; the client
        // is `syncing` until the replay reaches the relay's head.
        this.#joinHead = event.serverSeq;
        this.#setState('syncing');
        if (event.resync === 'replay') {
          this.#flush();
          this.#checkCaughtUp();
        }
        break;
      case 'snapshot':
        // The relay's history replaced the replica's: the store starts again from it.
        this.#persist?.compact();
        this.#emit('change', { origin: 'snapshot', serverSeq: event.serverSeq, splices: event.splices });
        this.#becomeLive();
        break;
      case 'remote':
        this.#emit('change', { origin: 'remote', serverSeq: event.serverSeq, splices: event.splices });
        if (!this.#checkCaughtUp()) this.#emitStatus();
        break;
      case 'acknowledged':
        this.#savedServerSeq = event.serverSeq;
        this.#emit('saved', { serverSeq: event.serverSeq, pending: this.#session.unacked });
        if (!this.#checkCaughtUp()) this.#emitStatus();
        break;
      case 'error': {
        const { type: _, ...error } = event;
        this.#lastError = error;
        this.#emit('error', error);
        // After the relay lost data, an edit may depend on another
        // client's edit that has not been sent again yet. A new connection
        // resends the outbox (docs/protocol.md §5.7).
        if (!event.fatal && event.code === 'missing_dependency') this.#scheduleResend();
        // The relay took nothing from the refused edit on: the session
        // holds it, and sends it again once the wait is over.
        if (!event.fatal && event.code === 'rate_limited') this.#scheduleResume(event.retryAfterMs ?? 1000);
        this.#emitStatus();
        break;
      }
    }
  }

  /** Handles a presence frame the session does not know; false if it is none. */
  #receiveFrame(frame) {
    let msg;
    try {
      msg = JSON.parse(frame);
    } catch {
      return false;
    }
    if (msg?.type !== 'presence' && msg?.type !== 'presence_removed') return false;
    this.#receivePresence(msg);
    return true;
  }

  /** While syncing by replay: goes live once the head is reached. */
  #checkCaughtUp() {
    if (this.#state !== 'syncing' || this.#session.status !== 'live') return false;
    if (this.#session.lastSeenServerSeq < this.#joinHead) return false;
    this.#becomeLive();
    return true;
  }

  #becomeLive() {
    clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
    this.#liveSince = Date.now();
    this.#lastError = null;
    this.#setState('live');
    this.#flush();
  }

  #flush() {
    const ws = this.#ws;
    if (!ws || ws.readyState !== OPEN) return;
    // Write-ahead: an edit goes out only once it is on disk (persist.js).
    if (this.#persist?.behind()) return;
    for (let frame = this.#session.pollSend(); frame !== undefined; frame = this.#session.pollSend()) {
      ws.send(frame);
    }
    // After the edits whose characters it may name, once hello_ack came.
    const status = this.#session.status;
    if (this.#presenceDirty && (status === 'syncing' || status === 'live')) {
      this.#presenceDirty = false;
      const msg = { type: 'presence', selections: this.#presenceSelections };
      if (this.#presenceData !== undefined) msg.data = this.#presenceData;
      ws.send(JSON.stringify(msg));
    }
  }

  /** Detaches and closes the current socket, if any. */
  #disconnect(reason) {
    const ws = this.#ws;
    if (!ws) return;
    this.#ws = null;
    this.#held = [];
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#resendTimer);
    clearTimeout(this.#rateTimer);
    this.#connectTimer = null;
    this.#resendTimer = null;
    this.#rateTimer = null;
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      ws.close(NORMAL, reason ?? undefined);
    } catch {
      // Already closed or closing.
    }
    this.#session.disconnected();
    // The relay forgot this client's presence; the others' is known again
    // after the next catch-up.
    this.#presenceDirty = this.#presenceSet;
    this.#others.clear();
    this.#emit('presence', this.presence);
    if (this.#liveSince !== null && Date.now() - this.#liveSince >= this.#policy.stableAfterMs) {
      this.#attempt = 0;
    }
    this.#liveSince = null;
  }

  /** Our side ends the connection (timeout, protocol error) and retries. */
  #drop(error) {
    this.#lastError = error;
    this.#disconnect(error?.code ?? null);
    this.#scheduleRetry();
  }

  /** The socket closed under us. */
  #lost(code, reason) {
    this.#disconnect(null);
    if ((code === UNAUTHORIZED || code === TOKEN_EXPIRED) && !this.#getToken) {
      this.#lastError = {
        code: reason || (code === UNAUTHORIZED ? 'unauthorized' : 'token_expired'),
        message: `the relay refused the token (${code}); give the client a new one`,
        closeCode: code,
      };
      this.#setState('offline');
      return;
    }
    if (code === TOKEN_EXPIRED) {
      // Expected once per token lifetime: fetch a new one at once.
      this.#scheduleRetry(0);
      return;
    }
    if (NO_RETRY.has(code)) {
      this.#lastError = {
        code: reason || NO_RETRY.get(code),
        message: `the relay closed the connection (${code}); not reconnecting`,
        closeCode: code,
      };
      this.#setState('offline');
      return;
    }
    if (code === TOO_SLOW) this.#attempt = 0;
    this.#scheduleRetry(code === TOO_SLOW ? 0 : undefined);
  }

  #scheduleRetry(delay = reconnectDelay(this.#attempt, this.#policy, this.#random)) {
    if (this.#closed || this.#paused) return;
    this.#clearRetry();
    this.#attempt++;
    this.#retryAt = Date.now() + delay;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      this.#retryAt = null;
      this.#open();
    }, delay);
    this.#setState('reconnecting');
  }

  #scheduleResume(delay) {
    clearTimeout(this.#rateTimer);
    const ws = this.#ws;
    this.#rateTimer = setTimeout(() => {
      this.#rateTimer = null;
      if (ws !== this.#ws) return;
      this.#session.resume();
      this.#flush();
    }, delay);
  }

  #scheduleResend() {
    if (this.#resendTimer !== null) return;
    const ws = this.#ws;
    const delay = Math.round(this.#policy.resendDelayMs * (1 - this.#policy.jitter * this.#random()));
    this.#resendTimer = setTimeout(() => {
      this.#resendTimer = null;
      if (ws !== this.#ws || this.#session.unacked === 0) return;
      this.#disconnect('resend');
      this.#open();
    }, delay);
  }

  #clearRetry() {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#retryAt = null;
  }
}

