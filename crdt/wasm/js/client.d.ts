// client.d.ts: types of client.js, the reconnecting sync client.

import type { Splice } from "./collab_crdt.js";

export type { Splice };

/** Where the client stands with the relay. */
export type ClientState =
  /** The WebSocket is opening, or `hello` is waiting for `hello_ack`. */
  | "connecting"
  /** `hello_ack` received; catching up to the relay's head (replay or snapshot). Local edits are already sent during a replay. */
  | "syncing"
  /** Caught up with the relay's head at join; every later edit arrives live, local edits are sent as made. */
  | "live"
  /** The connection dropped; waiting `retryInMs` before the next attempt. */
  | "reconnecting"
  /** Not trying: `goOffline()` was called, or the relay refused the client for good (see `error`). */
  | "offline"
  /** `close()` was called. */
  | "closed";

export interface ClientError {
  /** Stable: a protocol error code (docs/protocol.md §6) or one of the client's own (`connect_timeout`, `server_seq_gap`, ...). */
  code: string;
  message: string;
  fatal?: boolean;
  closeCode?: number | null;
  index?: number | null;
  /** With `rate_limited`: the client waits this long, then sends the refused edits again. */
  retryAfterMs?: number | null;
}

export interface ClientStatus {
  state: ClientState;
  docId: string;
  replicaId: number;
  /** The last `server_seq` integrated. */
  serverSeq: number;
  /** Every local edit up to the relay's `server_seq` N is stored there ("saved up to N"). */
  savedServerSeq: number;
  /** Local edits not yet acknowledged by the relay. 0 with `savedServerSeq` N: all saved up to N. */
  pending: number;
  /** Failed attempts since the last stable connection. */
  attempt: number;
  /** The relay said this client's token grants reading only: edits made anyway are kept, unsent. */
  readOnly: boolean;
  /** When `reconnecting`: milliseconds until the next attempt. */
  retryInMs: number | null;
  /** The last problem, cleared when the client is live again. */
  error: ClientError | null;
}

export interface ChangeEvent {
  /**
   * `remote`: another replica's edit; `snapshot`: the document was reloaded
   * from the relay; `undo` / `redo`: this client's `undo()` or `redo()`
   * (an editor applies it like a remote change, then puts its caret at `caret`).
   */
  origin: "remote" | "snapshot" | "undo" | "redo";
  /** With `remote` and `snapshot`: the relay's position in the document's log. */
  serverSeq?: number;
  /** Applied in order, they make the same change to an editor's text (UTF-16 units). */
  splices: Splice[];
  /** With `undo` and `redo`: where the caret goes, a UTF-16 offset of the new text. */
  caret?: number;
}

export interface UndoOptions {
  /** Edits less than this many milliseconds apart form one undo step (default 500; 0: every edit). */
  captureTimeoutMs?: number;
}

export interface SavedEvent {
  /** Every local edit up to this `server_seq` is stored by the relay. */
  serverSeq: number;
  /** Local edits still waiting for their acknowledgement. */
  pending: number;
}

/** Another member of the document, as `client.presence` holds it. */
export interface Presence {
  replicaId: number;
  /** The subject of its access token, once the relay checks tokens. */
  sub: string | null;
  /** What it passed as `data` to `setPresence` (a name, a colour, ...). */
  data: Record<string, unknown> | null;
  /** Its selections in UTF-16 offsets of this client's current text; `anchor === head` for a caret. */
  selections: { anchor: number; head: number }[];
}

export interface ClientEvents {
  status: ClientStatus;
  /** The others' presence changed (someone moved, came, left, or the connection dropped): the new `client.presence`. */
  presence: Map<number, Presence>;
  change: ChangeEvent;
  saved: SavedEvent;
  error: ClientError;
  /** Fires just before a frame from the relay is integrated: bindings push pending local edits here. */
  beforeRemote: undefined;
}

export interface ReconnectPolicy {
  /** First wait after a drop (default 250 ms). */
  initialDelayMs: number;
  /** Cap on the wait (default 10 s). */
  maxDelayMs: number;
  /** Growth per failed attempt (default 2). */
  factor: number;
  /** Up to this fraction of each wait is taken off at random (default 0.5). */
  jitter: number;
  /** An attempt that is not live within this is abandoned (default 10 s). */
  connectTimeoutMs: number;
  /** A connection live this long resets the backoff when it drops (default 5 s). */
  stableAfterMs: number;
  /** After a `missing_dependency` refusal, reconnect to resend after about this long (default 500 ms). */
  resendDelayMs: number;
}

export const RECONNECT_DEFAULTS: Readonly<ReconnectPolicy>;

export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export interface CollabClientOptions {
  /** The relay: `http://host:port`, `https://host`, or the WebSocket URL itself (`ws://host:port/ws`). */
  url: string | URL;
  /** The document: 1 to 128 bytes of ASCII letters, digits and `- _ . : ~ /`. */
  docId: string;
  /** 1 to 2^53 - 1, unique among the document's editors; random by default. */
  replicaId?: number;
  /** Defaults to `globalThis.WebSocket`. */
  WebSocket?: new (url: string) => WebSocketLike;
  reconnect?: Partial<ReconnectPolicy>;
  /** The jitter's random source, in [0, 1) (default `Math.random`). */
  random?: () => number;
  /** Connect at once (default true). */
  connect?: boolean;
  /** A token (JWT) for the document, shown in every `hello` (docs/security.md). */
  token?: string;
  /**
   * Called before every connection and reconnection; its token goes in that
   * connection's `hello`. An expired token is thus replaced without losing
   * unsaved edits. A rejection, or no answer within `connectTimeoutMs`,
   * counts as a failed attempt (backoff).
   */
  getToken?: () => string | undefined | Promise<string | undefined>;
  /** Collaborative undo: how edits are grouped into steps. */
  undo?: UndoOptions;
  /** The clock undo groups edits by, in milliseconds (default `performance.now`). */
  now?: () => number;
  /**
   * `"indexeddb"`: keep the document (snapshot, unsent edits) in IndexedDB,
   * so that a page reopened offline has them; edits wait for `ready`. A
   * second client of the same document in the same browser (another tab)
   * runs unpersisted (`persisted` false). A stored document keeps its
   * replica id (`replicaId` applies to a new one). Or a class shaped like
   * the package's IndexedDB store (`open(key)`), for tests.
   */
  persist?: "indexeddb" | PersistStoreClass;
}

/** What `persist` can be besides `"indexeddb"`: a store per document key, or null when another holds it. */
export interface PersistStoreClass {
  open(key: string): Promise<PersistStore | null>;
}

export interface PersistStore {
  load(): Promise<{
    replicaId: number; snapshot: Uint8Array; later: unknown[];
    lastSeen: number; epoch: string | null; ackedSeq: number;
  } | null>;
  append(entry: { ops: unknown[]; lastSeen: number; epoch: string | null; ackedSeq: number }): Promise<unknown>;
  compact(state: { replicaId: number; snapshot: Uint8Array; lastSeen: number; epoch: string | null; ackedSeq: number }): Promise<unknown>;
  clear(): Promise<unknown>;
  close(): void;
}

/** One document kept in sync with a relay. Call `init()` first. */
export class CollabClient {
  constructor(options: CollabClientOptions);
  readonly docId: string;
  readonly replicaId: number;
  /** The WebSocket URL in use. */
  readonly url: string;
  readonly state: ClientState;
  readonly status: ClientStatus;
  /**
   * Resolves once the stored document is loaded (with `persist`; at once
   * without). Edit after it. Rejects when the store cannot be restored; the
   * client then goes on as a fresh, unpersisted replica.
   */
  readonly ready: Promise<void>;
  /** Whether the document is kept in the store: false without `persist`, while loading, and in a second tab. */
  readonly persisted: boolean;
  /**
   * Whether every local edit is in the store, so closing the tab now loses
   * none of them: an "all saved" indicator. False without `persist`, in a
   * second tab, and once writes failed. Writes follow an edit within a
   * microtask and IndexedDB's commit.
   */
  readonly saved: boolean;
  /** Length of the text in UTF-16 code units. */
  readonly length: number;
  text(): string;
  /** The local replica's snapshot bytes (what `Doc.decode` reads). */
  encode(): Uint8Array;
  /** Inserts `text` at UTF-16 offset `index`. Throws a `CollabError` (`code`) when out of range or inside a surrogate pair. */
  insert(index: number, text: string): void;
  /** Deletes `length` UTF-16 code units at `index`. */
  delete(index: number, length: number): void;
  /** Replaces `length` UTF-16 code units at `index` with `text`. */
  replace(index: number, length: number, text: string): void;
  /**
   * Undoes this user's latest step, never anyone else's text: a `change`
   * event (origin `undo`) carries the splices, then it returns the UTF-16
   * offset where the caret goes, or `null` when there was nothing to undo.
   * Sent to the relay like any edit.
   */
  undo(): { caret: number } | null;
  /** Redoes the latest undone step, as `undo()` does (origin `redo`). */
  redo(): { caret: number } | null;
  /** Whether `undo()` has a step to undo. */
  readonly canUndo: boolean;
  /** Whether `redo()` has a step to redo (any new edit empties it). */
  readonly canRedo: boolean;
  /** Ends the current undo step: the next edit starts a new one. */
  stopCapturing(): void;
  on<K extends keyof ClientEvents>(type: K, listener: (event: ClientEvents[K]) => void): () => void;
  off<K extends keyof ClientEvents>(type: K, listener: (event: ClientEvents[K]) => void): void;
  /** Sets this client's presence; a part left out keeps its last value, `data: null` removes the data. */
  setPresence(presence: { selections?: { anchor: number; head: number }[]; data?: Record<string, unknown> | null }): void;
  /** Everyone else's presence by replica id, resolved against the current text. */
  readonly presence: Map<number, Presence>;
  /** Queues frames from the relay instead of integrating them, until the matching `releaseRemote()`. */
  holdRemote(): void;
  releaseRemote(): void;
  /** Sets the token later connections show (without `getToken`). */
  setToken(token: string | undefined): void;
  /** Closes the socket and stays offline (editing locally) until `goOnline()`. */
  goOffline(): void;
  goOnline(): void;
  /** Skips a running backoff wait. */
  reconnectNow(): void;
  /**
   * Ends the client for good and frees its wasm memory. With `persist`, a
   * last snapshot is written: the promise resolves once the store is let go
   * (open the same document again after it).
   */
  close(): Promise<void>;
}

/** How often an unchanged presence is sent again (the relay's TTL is 30 s). */
export const PRESENCE_REFRESH_MS: number;

/** A random replica id from 1 to 2^53 - 1. */
export function randomReplicaId(): number;

/** The wait before reconnect attempt `attempt` (0-based): capped exponential backoff minus random jitter. */
export function reconnectDelay(attempt: number, policy?: ReconnectPolicy, random?: () => number): number;

/** The relay's WebSocket URL for a relay URL (`http://host` becomes `ws://host/ws`). */
export function relayWebSocketUrl(url: string | URL): string;
