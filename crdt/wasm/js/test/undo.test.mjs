// undo.test.mjs: CollabClient's collaborative undo in Node.js: steps
// grouped by the clock and by stopCapturing(), the `change` events (origin
// undo / redo) whose splices keep an editor's copy equal to the text, the
// caret in UTF-16 units, and, against a scripted relay, undo removing only
// this client's text while another replica's arrives, sent like any edit.

import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { FakeSocket } from './fake-socket.mjs';
import { pkg } from './pkg.mjs';

const { CollabClient, Doc } = await pkg();

const clients = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

/** A client and an editor's copy of its text, kept only by the `change` events. */
function editor(options = {}) {
  let time = 0;
  const c = new CollabClient({
    url: 'http://relay.test',
    docId: 'notes',
    replicaId: 7,
    WebSocket: FakeSocket,
    connect: false,
    now: () => time,
    ...options,
  });
  clients.push(c);
  const view = { text: '', origins: [] };
  c.on('change', ({ origin, splices }) => {
    view.origins.push(origin);
    for (const s of splices) view.text = view.text.slice(0, s.index) + s.insert + view.text.slice(s.index + s.deleteCount);
  });
  const type = (index, text) => {
    view.text = view.text.slice(0, index) + text + view.text.slice(index);
    c.insert(index, text);
  };
  return { c, view, type, at: (ms) => (time = ms) };
}

const tick = () => new Promise((done) => setTimeout(done, 0));

test('edits within the capture timeout are one step; stopCapturing ends one', () => {
  const { c, view, type, at } = editor();
  assert.equal(c.canUndo, false);
  assert.equal(c.undo(), null, 'nothing to undo');
  at(1000);
  type(0, 'ab');
  at(1400);
  type(2, 'cd');
  at(2000);
  type(4, 'ef');
  c.stopCapturing();
  type(6, 'gh');
  assert.ok(c.canUndo);
  assert.deepEqual(c.undo(), { caret: 6 });
  assert.equal(view.text, 'abcdef');
  assert.deepEqual(c.undo(), { caret: 4 });
  assert.deepEqual(c.undo(), { caret: 0 });
  assert.equal(view.text, '');
  assert.equal(c.canUndo, false);
  assert.ok(c.canRedo);
  assert.deepEqual(c.redo(), { caret: 4 });
  assert.equal(view.text, 'abcd');
  assert.deepEqual(view.origins, ['undo', 'undo', 'undo', 'redo']);
  assert.equal(c.text(), view.text);
  type(4, '!');
  assert.equal(c.canRedo, false, 'a new edit empties the redo stack');
});

test('the caret and splices count UTF-16 units around astral characters', () => {
  const { c, view, type, at } = editor({ undo: { captureTimeoutMs: 0 } });
  type(0, '😀😀');
  at(1);
  type(2, 'é👍x');
  c.delete(0, 2);
  view.text = view.text.slice(2);
  assert.equal(c.text(), 'é👍x😀');
  assert.deepEqual(c.undo(), { caret: 2 }, 'after the emoji put back');
  assert.equal(view.text, '😀é👍x😀');
  assert.deepEqual(c.undo(), { caret: 2 });
  assert.equal(view.text, '😀😀');
  assert.equal(c.text(), view.text);
});

test('undo while another replica types removes only this client\'s text, and is sent', async () => {
  const { c, view, type } = editor({ connect: true });
  const socket = FakeSocket.last;
  socket.open();
  await tick();
  assert.equal(socket.sent[0].type, 'hello');
  socket.deliver({ type: 'hello_ack', doc_id: 'notes', replica_id: 7, server_seq: 0, epoch: 'e', resync: 'replay' });
  let seq = 0;
  const echo = (op) => socket.deliver({ type: 'op_echo', server_seq: ++seq, replica_id: op.replica_id, op });
  const bob = new Doc(9);
  /** Bob's edit, made and echoed: the operations it made. */
  const bobTypes = (index, text) => {
    const version = bob.version();
    bob.insert(index, text);
    for (const op of bob.opsSince(version)) echo(op);
  };
  bobTypes(0, '[bob]');
  type(3, 'ALICE');
  await tick();
  const mine = socket.sent.filter((m) => m.type === 'op').flatMap((m) => m.ops);
  assert.equal(mine.length, 1);
  bob.apply(mine[0]);
  echo(mine[0]);
  bobTypes(0, '>');
  bobTypes(bob.text().length, '<');
  assert.equal(view.text, '>[boALICEb]<');
  assert.deepEqual(c.undo(), { caret: 4 });
  assert.equal(view.text, '>[bob]<');
  assert.equal(c.status.pending, 1, 'the undo waits for its echo');
  await tick();
  const undoOps = socket.sent.filter((m) => m.type === 'op').flatMap((m) => m.ops).slice(1);
  assert.deepEqual(
    undoOps.map((op) => op.kind),
    ['delete'],
  );
  for (const op of undoOps) bob.apply(op);
  assert.equal(bob.text(), '>[bob]<', 'the other replica sees only its own text left');
  for (const op of undoOps) echo(op);
  assert.equal(c.status.pending, 0);
  assert.deepEqual(c.redo(), { caret: 9 });
  assert.equal(view.text, '>[boALICEb]<');
  assert.equal(c.text(), view.text);
  bob.free();
});
