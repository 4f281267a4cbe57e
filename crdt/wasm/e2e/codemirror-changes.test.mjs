// codemirror-changes.test.mjs: the CodeMirror binding's change mapping in
// Node.js, without a DOM (EditorState and transactions only), against the
// package as installed beside its peer dependencies (build-demo.sh copies
// pkg/ into node_modules/collab-crdt): a CodeMirror change set of several
// changes at once (multiple cursors, replacements, emoji) becomes client
// edits that give the client the editor's text; the client's sequential
// splices become one change set that gives the editor the client's text;
// a "\r" stays a character. Seeded random edits, checked against
// CodeMirror's own `changes.apply` and the package's `applySplices`.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EditorSelection, EditorState } from '@codemirror/state';
import init, { CollabClient, applySplices } from 'collab-crdt';
import { collab, sendChanges, splicesToChanges } from 'collab-crdt/codemirror';

await init();

/** A small seeded generator (mulberry32), so a failure can be replayed. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = ['a', 'bc', ' ', '\n', '\r\n', 'é', '👋', 'line\nbreak', ''];

/** A code-unit boundary of `text` that does not split a surrogate pair. */
function boundary(text, random) {
  let i = Math.floor(random() * (text.length + 1));
  if (i > 0 && i < text.length && /[\udc00-\udfff]/.test(text[i])) i--;
  return i;
}

/** A client that never connects (Node 20 has no WebSocket; none is opened). */
const offline = () => new CollabClient({ url: 'http://127.0.0.1:9', docId: 'changes', connect: false, WebSocket: class {} });

test('a change set of several changes becomes client edits giving the same text', () => {
  const random = rng(15);
  for (let round = 0; round < 200; round++) {
    const client = offline();
    const seed = Array.from({ length: 6 }, () => PIECES[Math.floor(random() * PIECES.length)]).join('');
    client.insert(0, seed);
    const state = EditorState.create({ doc: client.text(), extensions: EditorState.lineSeparator.of('\n') });
    // Up to four changes at once, non-overlapping, in the original document's positions.
    const cuts = Array.from({ length: 1 + Math.floor(random() * 4) }, () => [boundary(seed, random), boundary(seed, random)])
      .map(([a, b]) => [Math.min(a, b), Math.max(a, b)])
      .sort((x, y) => x[0] - y[0]);
    const specs = [];
    let last = 0;
    for (const [from, to] of cuts) {
      if (from < last) continue;
      specs.push({ from, to, insert: PIECES[Math.floor(random() * PIECES.length)] });
      last = to;
    }
    const tr = state.update({ changes: specs });
    sendChanges(client, tr.changes);
    assert.equal(client.text(), tr.state.doc.toString(), `round ${round}: ${JSON.stringify({ seed, specs })}`);
    assert.equal(client.length, tr.state.doc.length);
    client.close();
  }
});

test("the client's sequential splices become one change set giving the same text", () => {
  const random = rng(7);
  for (let round = 0; round < 200; round++) {
    let text = PIECES.slice(0, 1 + Math.floor(random() * PIECES.length)).join('');
    const state = EditorState.create({ doc: text, extensions: EditorState.lineSeparator.of('\n') });
    const splices = [];
    for (let i = 0; i < 1 + Math.floor(random() * 5); i++) {
      const a = boundary(text, random);
      const b = boundary(text, random);
      const splice = { index: Math.min(a, b), deleteCount: Math.abs(a - b), insert: PIECES[Math.floor(random() * PIECES.length)] };
      splices.push(splice);
      text = applySplices(text, [splice]);
    }
    const changes = splicesToChanges(state, splices);
    const after = changes.apply(state.doc);
    assert.equal(after.toString(), applySplices(state.doc.toString(), splices), `round ${round}: ${JSON.stringify(splices)}`);
    assert.equal(after.length, text.length);
  }
});

test('with the extension a "\\r" is a character: offsets match the client', () => {
  const text = 'one\r\ntwo\rthree\n';
  const bound = EditorState.create({ doc: text, extensions: collab(offline(), { presence: false, undo: false }) });
  assert.equal(bound.doc.length, text.length);
  assert.equal(bound.doc.toString(), text);
  assert.equal(bound.doc.lines, 3, 'only "\\n" breaks a line');
  // Without it CodeMirror reads "\r\n" and "\r" as line breaks and writes "\n": the offsets would drift.
  const plain = EditorState.create({ doc: text });
  assert.notEqual(plain.doc.toString(), text);
  // A multi-cursor insert on the bound state reaches the client where it was typed.
  const client = offline();
  client.insert(0, text);
  const state = EditorState.create({
    doc: text,
    extensions: [EditorState.lineSeparator.of('\n'), EditorState.allowMultipleSelections.of(true)],
    selection: EditorSelection.create([EditorSelection.cursor(3), EditorSelection.cursor(9)]),
  });
  const tr = state.update(state.replaceSelection('!'));
  sendChanges(client, tr.changes);
  assert.equal(client.text(), 'one!\r\ntwo\r!three\n');
  client.close();
});
