// codemirror.d.ts: types of codemirror.js, the CodeMirror 6 binding (`collab-crdt/codemirror`).

import type { AnnotationType, ChangeSet, EditorState, Extension } from "@codemirror/state";
import type { Command } from "@codemirror/view";
import type { CollabClient, Presence, Splice } from "./client.js";

/** What `sendChanges` calls: `CollabClient` has these. */
export interface Editable {
  insert(index: number, text: string): void;
  delete(index: number, length: number): void;
  replace(index: number, length: number, text: string): void;
}

export interface CollabOptions {
  /** Draw the others' carets and selections, and send this editor's selection as presence (default true). */
  presence?: boolean;
  /**
   * Bind Mod-z, Mod-Shift-z and Mod-y (and the Edit menu's undo and redo) to
   * the client's collaborative `undo()` and `redo()`, which take back only
   * this client's own edits (default true). Leave out CodeMirror's own
   * `history()`, or let these keys win as they do (highest precedence).
   */
  undo?: boolean;
  /** A member's colour (CSS); by default `data.color` of its presence, else one picked by replica id. */
  color?: (presence: Presence) => string;
  /** A member's label; by default `data.name` of its presence, else `#replicaId`. */
  name?: (presence: Presence) => string;
}

/**
 * The extension binding an editor to `client`. Create the state with
 * `doc: client.text()`: other text is replaced by the client's, which is
 * the document. One editor per client.
 */
export function collab(client: CollabClient, options?: CollabOptions): Extension;

/** Set (to `true`) on the transactions the binding dispatches from the client: remote edits, snapshots, undo steps. */
export const remoteChange: AnnotationType<boolean>;

/** The client's splices (each on the text the previous one left) as one change set on `state`'s document, or on one of `length` UTF-16 units. */
export function splicesToChanges(state: EditorState, splices: readonly Splice[], length?: number): ChangeSet;

/** Applies a change set made on the client's current text to the client, as `insert`, `delete` and `replace` calls in document order. */
export function sendChanges(client: Editable, changes: ChangeSet): void;

/** Runs the client's collaborative undo in a view bound with `collab` (what Mod-z runs); false when the client has none. */
export const collabUndo: Command;

/** Runs the client's collaborative redo (Mod-Shift-z, Mod-y). */
export const collabRedo: Command;
