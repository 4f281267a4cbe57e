// codemirror.js: `collab(client, options)`, a CodeMirror 6 extension that
// keeps an EditorView and a CollabClient in step (the package's subpath
// export `collab-crdt/codemirror`). Three concerns, as y-codemirror.next
// splits them: sync (local transactions become client edits, remote
// splices become transactions tagged with `remoteChange` so they are not
// sent back), presence (the others' carets and selections drawn as
// decorations, the local selection sent with `setPresence`) and undo
// (Mod-z / Mod-Shift-z / Mod-y on the client's collaborative undo, which
// takes back only this client's own edits). Positions are UTF-16 offsets on
// both sides; the extension sets the line separator to "\n" so that a "\r"
// in the text is a character to CodeMirror too and offsets never drift.

import { Annotation, ChangeSet, EditorSelection, EditorState, Prec, StateEffect, StateField } from '@codemirror/state';
import { Decoration, EditorView, ViewPlugin, WidgetType, keymap } from '@codemirror/view';
import { colorFor, nameFor } from './carets.js';
import { diffText } from './text.js';

/** Marks a transaction the binding made from the client's side (remote edits, snapshots, undo). */
export const remoteChange = Annotation.define();

/** Redraws the remote carets: dispatched when the others' presence changed. */
const presenceChanged = StateEffect.define();

const setReadOnly = StateEffect.define();

/** Whether the relay lets this client write; read-only while it does not. */
const readOnlyField = StateField.define({
  create: () => false,
  update: (value, tr) => tr.effects.reduce((v, e) => (e.is(setReadOnly) ? e.value : v), value),
  provide: (field) => EditorState.readOnly.from(field),
});

/**
 * Applies one CodeMirror change set to the client, change by change in
 * document order: `fromB` is where a change starts once the earlier ones
 * are applied, which is the client's text at that moment.
 */
export function sendChanges(client, changes) {
  changes.iterChanges((fromA, toA, fromB, _toB, inserted) => {
    const deleted = toA - fromA;
    const text = inserted.toString();
    if (deleted > 0 && text.length > 0) client.replace(fromB, deleted, text);
    else if (deleted > 0) client.delete(fromB, deleted);
    else if (text.length > 0) client.insert(fromB, text);
  });
}

/**
 * The client's splices (each on the text the previous one left) as one
 * CodeMirror change set on `state`'s document (or one of `length` units).
 */
export function splicesToChanges(state, splices, length = state.doc.length) {
  let changes = ChangeSet.empty(length);
  for (const { index, deleteCount, insert } of splices) {
    const step = ChangeSet.of({ from: index, to: index + deleteCount, insert: state.toText(insert) }, changes.newLength);
    changes = changes.compose(step);
  }
  return changes;
}

/** The one change that turns the editor's text into the client's, or null when they agree. */
function resyncChanges(state, text) {
  const current = state.doc.toString();
  if (current === text) return null;
  const { index, deleteCount, insert } = diffText(current, text, state.selection.main.head);
  return { from: index, to: index + deleteCount, insert: state.toText(insert) };
}

/** Each bound view's sync plugin, for the undo commands. */
const bindings = new WeakMap();

/** The command that runs the client's collaborative undo in a bound view (what Mod-z runs). */
export function collabUndo(view) {
  return bindings.get(view)?.undoStep('undo') ?? false;
}

/** The command that runs the client's collaborative redo (Mod-Shift-z, Mod-y). */
export function collabRedo(view) {
  return bindings.get(view)?.undoStep('redo') ?? false;
}

class SyncPlugin {
  constructor(view, client, options) {
    bindings.set(view, this);
    this.view = view;
    this.client = client;
    this.presence = options.presence;
    /** While an IME composes: the local changes since it started, sent once it ends. */
    this.pending = null;
    this.holding = false;
    this.releaseTimer = null;
    this.sentSelection = '';
    /** Set when a `change` event arrives during an undo or redo call. */
    this.changedInStep = false;
    this.destroyed = false;
    this.unsubscribe = [
      client.on('change', (event) => this.applyClient(event)),
      client.on('status', ({ readOnly }) => {
        if (readOnly !== this.view.state.field(readOnlyField)) this.dispatchLater({ effects: setReadOnly.of(readOnly) });
      }),
    ];
    // The client's text is the document: an editor created with other text
    // (or none) is brought to it at once, without sending anything.
    this.dispatchLater(() => {
      const change = resyncChanges(this.view.state, client.text());
      const spec = { effects: setReadOnly.of(client.status.readOnly), annotations: remoteChange.of(true) };
      return change ? { ...spec, changes: change, selection: EditorSelection.cursor(0) } : spec;
    });
  }

  /** Dispatches outside any update in progress (a plugin may not dispatch from its constructor or update). */
  dispatchLater(spec) {
    queueMicrotask(() => {
      if (this.destroyed) return;
      const s = typeof spec === 'function' ? spec() : spec;
      if (s) this.view.dispatch(s);
    });
  }

  update(update) {
    let local = false;
    for (const tr of update.transactions) {
      if (tr.annotation(remoteChange) || tr.changes.empty) continue;
      local = true;
      if (this.holding) this.pending = this.pending ? this.pending.compose(tr.changes) : tr.changes;
      else if (!this.send(tr.changes)) return;
    }
    if (this.holding) {
      // A composition that ended without a compositionend CodeMirror saw.
      if (!update.view.compositionStarted && this.releaseTimer === null) this.compositionEnd();
      return;
    }
    const remoteOnly = !local && update.transactions.some((tr) => tr.annotation(remoteChange));
    if (remoteOnly) {
      // Anchors moved with the text they sit on: only remember the mapped selection.
      this.sentSelection = selectionKey(update.state.selection);
    } else if (update.selectionSet || local || (update.focusChanged && update.view.hasFocus)) {
      this.sendSelection(update.state.selection);
      if (!local && update.transactions.some((tr) => tr.isUserEvent('select'))) this.client.stopCapturing?.();
    }
  }

  /**
   * Sends local changes. Should the client refuse one (a change that
   * splits a surrogate pair, say), the editor goes back to the client's
   * text rather than showing what no one else will see; the error is
   * reported apart, as the client reports a failing listener.
   */
  send(changes) {
    try {
      sendChanges(this.client, changes);
      return true;
    } catch (err) {
      this.dispatchLater(() => {
        const change = resyncChanges(this.view.state, this.client.text());
        return change && { changes: change, annotations: remoteChange.of(true) };
      });
      queueMicrotask(() => {
        throw err;
      });
      return false;
    }
  }

  sendSelection(selection) {
    // Offsets name the client's text: none while the editor's differs.
    if (!this.presence || this.view.state.doc.length !== this.client.length) return;
    const key = selectionKey(selection);
    if (key === this.sentSelection) return;
    this.sentSelection = key;
    this.client.setPresence({ selections: selection.ranges.map(({ anchor, head }) => ({ anchor, head })) });
  }

  /**
   * A composition started: frames from the relay wait (the text under the
   * IME must not change), and its changes are kept until it ends, so the
   * others get the committed text once rather than every candidate.
   */
  compositionStart() {
    clearTimeout(this.releaseTimer);
    this.releaseTimer = null;
    if (this.holding) return;
    this.holding = true;
    this.client.holdRemote();
  }

  /**
   * CodeMirror reads the committed text from the DOM after compositionend
   * (in a microtask): release once that transaction is in.
   */
  compositionEnd() {
    clearTimeout(this.releaseTimer);
    this.releaseTimer = setTimeout(() => {
      this.releaseTimer = null;
      if (!this.view.compositionStarted) this.release();
    }, 0);
  }

  release() {
    if (!this.holding) return;
    this.holding = false;
    const pending = this.pending;
    this.pending = null;
    if (pending) this.send(pending);
    this.sendSelection(this.view.state.selection);
    // Held frames are integrated now, and their `change` events dispatch.
    this.client.releaseRemote();
    this.view.dispatch({ effects: presenceChanged.of(null) });
  }

  /** A `change` event of the client: another replica's edit, a snapshot, or an undo step. */
  applyClient({ origin, splices, caret }) {
    if (this.destroyed || splices.length === 0) return;
    this.changedInStep = true;
    if (this.holding && this.pending) {
      // Only a local call reaches the client during a composition (the
      // relay's frames wait): the client has the change and not the
      // composition, the editor the reverse. Each side gets the other's
      // change moved over its own.
      const change = splicesToChanges(this.view.state, splices, this.pending.length);
      this.view.dispatch({ changes: change.map(this.pending), annotations: remoteChange.of(true) });
      this.pending = this.pending.map(change, true);
      return;
    }
    const step = origin === 'undo' || origin === 'redo';
    this.applySplices(splices, step ? (Number.isInteger(caret) ? caret : caretAfter(splices)) : undefined);
  }

  /**
   * Dispatches splices the client already applied. The client's length is
   * checked (cheap) after each; only when it differs is its text read: the
   * editor missed something, and the client's text wins.
   */
  applySplices(splices, caret) {
    const { state } = this.view;
    const changes = splicesToChanges(state, splices);
    const spec = { annotations: remoteChange.of(true) };
    if (changes.newLength === this.client.length) {
      spec.changes = changes;
      if (caret !== undefined) spec.selection = EditorSelection.cursor(Math.min(caret, changes.newLength));
    } else {
      spec.changes = resyncChanges(state, this.client.text()) ?? [];
    }
    this.view.dispatch(spec);
  }

  /**
   * Runs `client.undo()` or `redo()`. The step reaches the editor as the
   * client's `change` event, or else from what the call returned (its
   * splices and caret), or else by comparing texts; the caret goes where
   * the step happened.
   */
  undoStep(what) {
    if (typeof this.client[what] !== 'function') return false;
    // The keys are taken either way: the browser's own undo must not run.
    if (this.holding || this.view.state.readOnly) return true;
    const before = this.client.text();
    this.changedInStep = false;
    const result = this.client[what]();
    const caret = [result?.caret, result?.caretUtf16].find((c) => Number.isInteger(c));
    if (!this.changedInStep && Array.isArray(result?.splices) && result.splices.length > 0) {
      this.applySplices(result.splices, caret ?? caretAfter(result.splices));
    } else if (this.changedInStep && caret !== undefined) {
      this.view.dispatch({ selection: EditorSelection.cursor(Math.min(caret, this.view.state.doc.length)) });
    }
    const change = resyncChanges(this.view.state, this.client.text());
    if (change) {
      const head = caret ?? caretOfDiff(before, this.client.text());
      this.view.dispatch({ changes: change, selection: EditorSelection.cursor(Math.min(head, this.client.length)), annotations: remoteChange.of(true) });
    }
    this.view.dispatch({ scrollIntoView: true });
    this.sendSelection(this.view.state.selection);
    return true;
  }

  destroy() {
    this.destroyed = true;
    if (bindings.get(this.view) === this) bindings.delete(this.view);
    clearTimeout(this.releaseTimer);
    if (this.holding) {
      this.holding = false;
      if (this.pending) sendChanges(this.client, this.pending);
      this.pending = null;
      this.client.releaseRemote();
    }
    for (const off of this.unsubscribe) off();
  }
}

function selectionKey(selection) {
  return selection.ranges.map((r) => `${r.anchor}:${r.head}`).join(',');
}

/** Where the caret goes after an undo step given as splices: the end of the last one's text. */
function caretAfter(splices) {
  const last = splices[splices.length - 1];
  return last.index + last.insert.length;
}

function caretOfDiff(before, after) {
  const { index, insert } = diffText(before, after);
  return index + insert.length;
}

/** A remote member's caret: a coloured bar with the member's name above it. */
class CaretWidget extends WidgetType {
  constructor(replicaId, color, name) {
    super();
    this.replicaId = replicaId;
    this.color = color;
    this.name = name;
  }

  eq(other) {
    return other.replicaId === this.replicaId && other.color === this.color && other.name === this.name;
  }

  toDOM(view) {
    const doc = view.dom.ownerDocument;
    const caret = doc.createElement('span');
    caret.className = 'cm-collab-caret';
    caret.dataset.replica = String(this.replicaId);
    caret.style.borderLeftColor = this.color;
    const label = doc.createElement('span');
    label.className = 'cm-collab-caret-label';
    label.textContent = this.name;
    label.style.backgroundColor = this.color;
    caret.append(label);
    return caret;
  }

  ignoreEvent() {
    return true;
  }
}

/** The others' carets and selections, from `client.presence`, as decorations. */
class PresencePlugin {
  constructor(view, client, options) {
    this.client = client;
    this.color = options.color;
    this.name = options.name;
    this.decorations = this.build(view.state);
    this.queued = false;
    this.destroyed = false;
    const redraw = () => {
      // One redraw for a burst of presence messages, outside any update.
      if (this.queued) return;
      this.queued = true;
      queueMicrotask(() => {
        this.queued = false;
        if (!this.destroyed) view.dispatch({ effects: presenceChanged.of(null) });
      });
    };
    this.unsubscribe = [client.on('presence', redraw)];
  }

  update(update) {
    const redraw = update.transactions.some((tr) => tr.effects.some((e) => e.is(presenceChanged)));
    if (!update.docChanged && !redraw) return;
    // During a composition the client does not have the composed text yet,
    // and offsets from it would be off: the drawn carets move with the text.
    const lagging = bindings.get(update.view)?.holding || update.state.doc.length !== this.client.length;
    this.decorations = lagging ? this.decorations.map(update.changes) : this.build(update.state);
  }

  build(state) {
    const length = state.doc.length;
    const ranges = [];
    for (const p of this.client.presence.values()) {
      const color = this.color(p);
      const name = this.name(p);
      for (const { anchor, head } of p.selections) {
        const from = Math.min(anchor, head, length);
        const to = Math.min(Math.max(anchor, head), length);
        if (from < to) {
          ranges.push(
            Decoration.mark({
              class: 'cm-collab-selection',
              attributes: { 'data-replica': String(p.replicaId), style: `background-color: color-mix(in srgb, ${color} 25%, transparent)` },
            }).range(from, to),
          );
        }
        ranges.push(Decoration.widget({ widget: new CaretWidget(p.replicaId, color, name), side: 1 }).range(Math.min(head, length)));
      }
    }
    return Decoration.set(ranges, true);
  }

  destroy() {
    this.destroyed = true;
    for (const off of this.unsubscribe) off();
  }
}

const theme = EditorView.baseTheme({
  '.cm-collab-caret': {
    position: 'relative',
    borderLeft: '2px solid',
    marginLeft: '-1px',
    marginRight: '-1px',
    boxSizing: 'border-box',
    display: 'inline',
  },
  '.cm-collab-caret-label': {
    position: 'absolute',
    left: '-2px',
    bottom: '100%',
    whiteSpace: 'nowrap',
    font: '600 11px/1.3 system-ui, sans-serif',
    color: '#fff',
    padding: '0 4px',
    borderRadius: '3px 3px 3px 0',
    pointerEvents: 'none',
    userSelect: 'none',
    zIndex: '10',
  },
});

/**
 * The CodeMirror extension that binds the editor to `client`. Create the
 * editor with `doc: client.text()` (other text is replaced by the client's).
 *
 * @param {import('./client.js').CollabClient} client
 * @param {import('./codemirror.d.ts').CollabOptions} [options]
 * @returns {import('@codemirror/state').Extension}
 */
export function collab(client, { presence = true, undo = true, color = colorFor, name = nameFor } = {}) {
  const sync = ViewPlugin.define((view) => new SyncPlugin(view, client, { presence }), {
    eventObservers: {
      compositionstart(_event, view) {
        view.plugin(sync)?.compositionStart();
      },
      compositionend(_event, view) {
        view.plugin(sync)?.compositionEnd();
      },
    },
  });
  const extensions = [EditorState.lineSeparator.of('\n'), readOnlyField, sync];
  if (presence) {
    extensions.push(
      ViewPlugin.define((view) => new PresencePlugin(view, client, { color, name }), { decorations: (p) => p.decorations }),
      theme,
    );
  }
  if (undo) {
    extensions.push(
      Prec.highest(
        keymap.of([
          { key: 'Mod-z', run: collabUndo, preventDefault: true },
          { key: 'Mod-Shift-z', run: collabRedo, preventDefault: true },
          { key: 'Mod-y', run: collabRedo, preventDefault: true },
        ]),
      ),
      // The Edit menu and context menu undo arrive as beforeinput events.
      Prec.highest(
        EditorView.domEventHandlers({
          beforeinput(event, view) {
            if (event.inputType !== 'historyUndo' && event.inputType !== 'historyRedo') return false;
            event.preventDefault();
            view.plugin(sync)?.undoStep(event.inputType === 'historyUndo' ? 'undo' : 'redo');
            return true;
          },
        }),
      ),
    );
  }
  return extensions;
}
