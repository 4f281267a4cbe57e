// index.d.ts: types of the package's entry point.

export { Doc, ClientSession, initSync } from "./collab_crdt.js";
export type {
  InitInput,
  InitOutput,
  SyncInitInput,
  Op,
  VersionVector,
  SessionEvent,
  Splice,
  Undone,
} from "./collab_crdt.js";
export {
  CollabClient,
  PRESENCE_REFRESH_MS,
  RECONNECT_DEFAULTS,
  randomReplicaId,
  reconnectDelay,
  relayWebSocketUrl,
} from "./client.js";
export type {
  ChangeEvent,
  ClientError,
  ClientEvents,
  ClientState,
  ClientStatus,
  CollabClientOptions,
  Presence,
  ReconnectPolicy,
  PersistStore,
  PersistStoreClass,
  SavedEvent,
  UndoOptions,
  WebSocketLike,
} from "./client.js";
export { bindTextarea } from "./textarea.js";
export type { TextareaBinding } from "./textarea.js";
export { diffText, transformIndex, transformSelection, applySplices } from "./text.js";

/** An error thrown by `Doc`, `ClientSession` or `CollabClient` edits: `code` is stable (`position_out_of_range`, `split_surrogate`, ...). */
export interface CollabError extends Error {
  name: "CollabError";
  code: string;
}

/**
 * Loads the WebAssembly module (once). In browsers it fetches the `.wasm`
 * beside the package; in Node.js it reads it from disk.
 */
export default function init(input?: import("./collab_crdt.js").InitInput | Promise<import("./collab_crdt.js").InitInput>): Promise<import("./collab_crdt.js").InitOutput>;

/** `init()`, then a connected `CollabClient`. */
export function connect(options: import("./client.js").CollabClientOptions): Promise<import("./client.js").CollabClient>;
