// textarea.d.ts: types of textarea.js, the <textarea> binding.

import type { CollabClient, Presence } from "./client.js";

export interface TextareaOptions {
  /** Send the user's selection as presence and draw the others' carets over the element (default true). */
  presence?: boolean;
  /** A member's colour (default: `data.color`, else one picked by replica id). */
  color?: (presence: Presence) => string;
  /** A member's caret label (default: `data.name`, else `#replicaId`). */
  name?: (presence: Presence) => string;
}

export interface TextareaBinding {
  /** Sends whatever changed in the element since the last input event (for code that sets `value` itself). */
  sync(): void;
  /** Stops listening; the element keeps its text. */
  destroy(): void;
}

/**
 * Keeps `textarea` and `client` in step: the element starts with the
 * client's text; typing, paste, drop, IME composition and the element's own
 * undo become edits; remote changes are applied with the selection kept on
 * the same text (a remote insert before the caret moves it). With
 * `presence` (the default) the user's selection is sent as it moves and the
 * others' carets, selections and names are drawn over the element.
 */
export function bindTextarea(
  client: CollabClient,
  textarea: HTMLTextAreaElement,
  options?: TextareaOptions,
): TextareaBinding;
