// textarea.js: bindTextarea keeps a <textarea> and a CollabClient in step.
// Local input of any kind (typing, paste, drop, IME composition) is found
// by comparing the element's value with the text the binding last gave it,
// and sent as one splice. Undo and redo (Mod-z, Mod-Shift-z, Mod-y and the
// browser's own history commands, caught as `beforeinput`) are the
// client's collaborative undo, which takes back only this user's edits
// however much others typed since; the browser's own history could not,
// as every remote change resets it. Remote
// splices are applied to the element with the selection moved so that the
// user's caret stays on the same text (see text.js for the rules). The
// user's selection is sent as presence whenever it moves, and the others'
// carets and selections are drawn over the element (carets.js). When the
// relay says the client may only read, the element is made read-only, and
// writable again when a later connection may write.

import { drawRemoteCarets } from './carets.js';
import { diffText, transformSelection } from './text.js';

/**
 * @param {import('./client.js').CollabClient} client
 * @param {HTMLTextAreaElement} textarea
 * @param {import('./textarea.d.ts').TextareaOptions} [options]
 * @returns {import('./textarea.d.ts').TextareaBinding}
 */
export function bindTextarea(client, textarea, { presence = true, color, name, undo = true } = {}) {
  /** The element's value as the model knows it; equal to client.text() between events. */
  let shadow = client.text();
  let composing = false;
  let destroyed = false;
  const doc = textarea.ownerDocument;
  textarea.value = shadow;
  const carets = presence ? drawRemoteCarets(client, textarea, { color, name }) : null;
  /** The selection last sent, to send only moves. */
  let sentSelection = '';
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
    carets?.render();
  }

  /** Sends the user's selection if it moved (after any edit that moved it). */
  function sendSelection() {
    if (!presence || composing || destroyed) return;
    syncLocal();
    const { selectionStart: start, selectionEnd: end, selectionDirection: direction } = textarea;
    const [anchor, head] = direction === 'backward' ? [end, start] : [start, end];
    const key = `${anchor}:${head}`;
    if (key === sentSelection) return;
    sentSelection = key;
    client.setPresence({ selections: [{ anchor, head }] });
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
    // The caret moved with the text it sits on: its anchor did too, so
    // nothing needs sending, only the key of what was sent.
    if (sentSelection !== '') {
      sentSelection = direction === 'backward' ? `${end}:${start}` : `${start}:${end}`;
    }
  }

  /** Undo or redo through the client; the `change` event applies the text, the caret goes where it says. */
  function revert(which) {
    if (destroyed || composing || textarea.readOnly) return;
    syncLocal();
    const done = client[which]();
    if (done === null) return;
    textarea.setSelectionRange(done.caret, done.caret);
    sendSelection();
  }

  // Ctrl on most systems, Cmd on macOS; Alt combinations are not undo.
  const onKeyDown = (event) => {
    if (!(event.ctrlKey || event.metaKey) || event.altKey) {
      // A caret moved by the keyboard ends the undo step, as a click does.
      if (event.key.startsWith('Arrow') || ['Home', 'End', 'PageUp', 'PageDown'].includes(event.key)) {
        client.stopCapturing();
      }
      return;
    }
    const key = event.key.toLowerCase();
    const which = key === 'z' ? (event.shiftKey ? 'redo' : 'undo') : key === 'y' && !event.shiftKey ? 'redo' : null;
    if (which === null) return;
    event.preventDefault();
    revert(which);
  };
  // The browser's Edit menu, context menu and shake-to-undo.
  const onBeforeInput = (event) => {
    if (event.inputType !== 'historyUndo' && event.inputType !== 'historyRedo') return;
    event.preventDefault();
    revert(event.inputType === 'historyUndo' ? 'undo' : 'redo');
  };
  const onPointerDown = () => client.stopCapturing();
  const undoEvents = [
    ['keydown', onKeyDown],
    ['beforeinput', onBeforeInput],
    ['mousedown', onPointerDown],
    ['blur', onPointerDown],
  ];

  const onInput = (event) => {
    if (event.isComposing) return;
    syncLocal();
    sendSelection();
  };
  // Chromium and Firefox report selection moves in a textarea on the
  // document; keys and clicks cover the others.
  const onSelectionChange = () => {
    if (doc.activeElement === textarea) sendSelection();
  };
  const selectionEvents = ['select', 'keyup', 'mouseup', 'focus'];
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
    sendSelection();
  };

  textarea.addEventListener('input', onInput);
  if (undo) for (const [type, listener] of undoEvents) textarea.addEventListener(type, listener);
  for (const type of selectionEvents) textarea.addEventListener(type, sendSelection);
  doc.addEventListener('selectionchange', onSelectionChange);
  textarea.addEventListener('compositionstart', onCompositionStart);
  textarea.addEventListener('compositionend', onCompositionEnd);
  const unsubscribe = [
    client.on('beforeRemote', syncLocal),
    client.on('change', applyRemote),
    client.on('status', applyReadOnly),
  ];

  return {
    sync: syncLocal,
    undo: () => revert('undo'),
    redo: () => revert('redo'),
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
      for (const [type, listener] of undoEvents) textarea.removeEventListener(type, listener);
      textarea.removeEventListener('compositionstart', onCompositionStart);
      textarea.removeEventListener('compositionend', onCompositionEnd);
      for (const type of selectionEvents) textarea.removeEventListener(type, sendSelection);
      doc.removeEventListener('selectionchange', onSelectionChange);
      carets?.destroy();
      for (const off of unsubscribe) off();
    },
  };
}
