// textarea.d.ts: types of textarea.js, the <textarea> binding.

import type { CollabClient } from "./client.js";

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
 * the same text (a remote insert before the caret moves it).
 */
export function bindTextarea(client: CollabClient, textarea: HTMLTextAreaElement): TextareaBinding;
