// textarea.d.ts: types of textarea.js, the <textarea> binding.

import type { CollabClient, Presence } from "./client.js";

export interface TextareaOptions {
  /** Send the user's selection as presence and draw the others' carets over the element (default true). */
  presence?: boolean;
  /** A member's colour (default: `data.color`, else one picked by replica id). */
  color?: (presence: Presence) => string;
  /** A member's caret label (default: `data.name`, else `#replicaId`). */
  name?: (presence: Presence) => string;
  /**
   * Mod-z, Mod-Shift-z, Mod-y and the browser's own undo and redo commands
   * use the client's collaborative undo, which undoes only this user's
   * edits (default true; false leaves them to the browser).
   */
  undo?: boolean;
}

export interface TextareaBinding {
  /** Sends whatever changed in the element since the last input event (for code that sets `value` itself). */
  sync(): void;
  /** `client.undo()` with the element's caret restored (for an Undo button). */
  undo(): void;
  /** `client.redo()`, likewise. */
  redo(): void;
  /** Stops listening; the element keeps its text. */
  destroy(): void;
}

/**
 * Keeps `textarea` and `client` in step: the element starts with the
 * client's text; typing, paste, drop and IME composition become edits; undo
 * and redo keys and commands use the client's collaborative undo; remote
 * changes are applied with the selection kept on the same text (a remote insert before the caret moves it). With
 * `presence` (the default) the user's selection is sent as it moves and the
 * others' carets, selections and names are drawn over the element.
 */
export function bindTextarea(
  client: CollabClient,
  textarea: HTMLTextAreaElement,
  options?: TextareaOptions,
): TextareaBinding;
