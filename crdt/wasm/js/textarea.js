// textarea.js: bindTextarea keeps a <textarea> and a CollabClient in step.
// Local input of any kind (typing, paste, drop, IME composition, the
// element's own undo and redo) is found by comparing the element's value
// with the text the binding last gave it, and sent as one splice. Remote
// splices are applied to the element with the selection moved so that the
// user's caret stays on the same text (see text.js for the rules). When
// the relay says the client may only read, the element is made read-only,
// and writable again when a later connection may write.

import { diffText, transformSelection } from './text.js';

/**
 * @param {import('./client.js').CollabClient} client
 * @param {HTMLTextAreaElement} textarea
 * @returns {import('./textarea.d.ts').TextareaBinding}
 */
export function bindTextarea(client, textarea) {
  /** The element's value as the model knows it; equal to client.text() between events. */
  let shadow = client.text();
  let composing = false;
  let destroyed = false;
  textarea.value = shadow;
  /** Whether the binding made the element read-only (and so may undo it). */
  let lockedByUs = false;
  const applyReadOnly = ({ readOnly }) => {
    if (destroyed || readOnly === lockedByUs) return;
    lockedByUs = readOnly;
    textarea.readOnly = readOnly;
  };
  applyReadOnly(client.status);

  /** Turns whatever the user did since the last call into one edit. */
  function syncLocal() {
    if (composing || destroyed) return;
    const value = textarea.value;
    if (value === shadow) return;
    const { index, deleteCount, insert } = diffText(shadow, value, textarea.selectionEnd);
    shadow = value;
    if (deleteCount > 0 && insert.length > 0) client.replace(index, deleteCount, insert);
    else if (deleteCount > 0) client.delete(index, deleteCount);
    else client.insert(index, insert);
  }

  function applyRemote({ splices }) {
    if (destroyed || splices.length === 0) return;
    const direction = textarea.selectionDirection;
    let start = textarea.selectionStart;
    let end = textarea.selectionEnd;
    let value = shadow;
    for (const splice of splices) {
      value = value.slice(0, splice.index) + splice.insert + value.slice(splice.index + splice.deleteCount);
      [start, end] = transformSelection(start, end, splice);
    }
    const { scrollTop, scrollLeft } = textarea;
    textarea.value = value;
    shadow = value;
    textarea.setSelectionRange(start, end, direction);
    textarea.scrollTop = scrollTop;
    textarea.scrollLeft = scrollLeft;
  }

  const onInput = (event) => {
    if (event.isComposing) return;
    syncLocal();
  };
  // During a composition the element shows text the IME has not committed:
  // send nothing, and change nothing under it. Frames from the relay wait.
  const onCompositionStart = () => {
    syncLocal();
    if (!composing) {
      composing = true;
      client.holdRemote();
    }
  };
  const onCompositionEnd = () => {
    if (!composing) return;
    composing = false;
    syncLocal();
    client.releaseRemote();
  };

  textarea.addEventListener('input', onInput);
  textarea.addEventListener('compositionstart', onCompositionStart);
  textarea.addEventListener('compositionend', onCompositionEnd);
  const unsubscribe = [
    client.on('beforeRemote', syncLocal),
    client.on('change', applyRemote),
    client.on('status', applyReadOnly),
  ];

  return {
    sync: syncLocal,
    destroy() {
      if (destroyed) return;
      if (composing) {
        composing = false;
        syncLocal();
        client.releaseRemote();
      }
      if (lockedByUs) textarea.readOnly = false;
      destroyed = true;
      textarea.removeEventListener('input', onInput);
      textarea.removeEventListener('compositionstart', onCompositionStart);
      textarea.removeEventListener('compositionend', onCompositionEnd);
      for (const off of unsubscribe) off();
    },
  };
}
