// persist.test.mjs: CollabClient's offline persistence in Node.js, with an
// in-memory store shaped like IndexedDbStore (the IndexedDB one itself runs
// in Chromium, crdt/wasm/e2e/persist.test.mjs): a client closed offline and
// opened again has its text and its unsent edits, as the same replica, and
// sends them once connected; an edit is sent only after it is on disk; the
// store is compacted on every load, so loading a hundred times leaves one
// record; a long log is compacted once the edits pause (or at a hard cap),
// never on the typing path; a store refused to a second tab leaves that client unpersisted;
// a client closed while loading lets the store go.

import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { FakeSocket } from './fake-socket.mjs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pkg, pkgDir } from './pkg.mjs';

const { CollabClient } = await pkg();
const { COMPACT_AFTER, COMPACT_IDLE_MS, COMPACT_MAX } = await import(pathToFileURL(join(pkgDir, 'persist.js')).href);

/** One document's store in memory: `disk` survives its clients; `gate` holds appends. */
function memoryStore() {
  const disk = { doc: null, log: [], held: false, gate: null };
  class Store {
    static async open() {
      if (disk.held) return null;
      disk.held = true;
      return new Store();
    }
    async load() {
      if (!disk.doc) return null;
      const last = disk.log.at(-1) ?? disk.doc;
      const { lastSeen, epoch, ackedSeq } = last;
      return { ...structuredClone(disk.doc), later: disk.log.flatMap((e) => structuredClone(e.ops)), lastSeen, epoch, ackedSeq };
    }
    async append(entry) {
      await disk.gate;
      disk.log.push(structuredClone(entry));
    }
    async compact(state) {
      disk.doc = structuredClone(state);
      disk.log = [];
    }
    async clear() {
      disk.doc = null;
      disk.log = [];
    }
    close() {
      disk.held = false;
    }
  }
  return { Store, disk, size: () => (disk.doc ? 1 : 0) + disk.log.length };
}

const clients = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

function client(Store, options = {}) {
  const c = new CollabClient({ url: 'http://relay.test', docId: 'notes', WebSocket: FakeSocket, connect: false, persist: Store, ...options });
  clients.push(c);
  return c;
}

const tick = () => new Promise((done) => setTimeout(done, 0));
const ops = (socket) => socket.sent.filter((m) => m.type === 'op').flatMap((m) => m.ops);

test('a client closed offline comes back with its text and unsent edits, as the same replica', async () => {
  const { Store, size } = memoryStore();
  const first = client(Store);
  await first.ready;
  assert.ok(first.persisted);
  first.insert(0, 'written offline 😀');
  first.delete(0, 8);
  await tick();
  const replica = first.replicaId;
  assert.ok(size() >= 2, 'the edits went to the log as they were made');
  await first.close();

  const changes = [];
  const again = new CollabClient({ url: 'http://relay.test', docId: 'notes', WebSocket: FakeSocket, connect: false, persist: Store });
  clients.push(again);
  again.on('change', (e) => changes.push(e));
  await again.ready;
  assert.equal(again.text(), 'offline 😀');
  assert.equal(again.replicaId, replica, 'the same replica: its next seq follows the stored ones');
  assert.equal(again.status.pending, 2, 'both edits wait in the outbox');
  assert.deepEqual(changes.map((e) => [e.origin, e.splices]), [['snapshot', [{ index: 0, deleteCount: 0, insert: 'offline 😀' }]]]);
  assert.equal(size(), 1, 'loading compacted the store into one snapshot');
});

test('loading a hundred times leaves one record; edits in between are kept', async () => {
  const { Store, size } = memoryStore();
  let text = '';
  for (let i = 0; i < 100; i++) {
    const c = client(Store);
    await c.ready;
    assert.equal(c.text(), text);
    if (i % 10 === 0) {
      c.insert(c.length, `${i},`);
      text += `${i},`;
    }
    await tick();
    await c.close();
    clients.pop();
    assert.ok(size() <= 2, `load ${i}: ${size()} records`);
  }
  const last = client(Store);
  await last.ready;
  assert.equal(last.text(), text);
  assert.equal(size(), 1);
});

test('an edit is sent only once it is on disk; the restored outbox goes out after hello_ack', async () => {
  const { Store, disk } = memoryStore();
  const c = client(Store, { connect: true });
  await c.ready;
  const socket = FakeSocket.last;
  socket.open();
  await tick();
  socket.deliver({ type: 'hello_ack', doc_id: 'notes', replica_id: c.replicaId, server_seq: 0, epoch: 'e', resync: 'replay' });
  let open;
  disk.gate = new Promise((resolve) => (open = resolve));
  c.insert(0, 'held');
  await tick();
  await tick();
  assert.deepEqual(ops(socket), [], 'not sent while the write is pending');
  assert.equal(c.saved, false, 'not saved while the write is pending');
  open();
  await tick();
  await tick();
  assert.equal(c.saved, true, 'saved once written');
  assert.equal(ops(socket).length, 1, 'sent once written');
  assert.equal(ops(socket)[0].text, 'held');
  disk.gate = null;
  // Closed before the echo: the edit is still unacknowledged in the store.
  const replica = c.replicaId;
  await c.close();
  clients.pop();

  const back = client(Store, { connect: true });
  await back.ready;
  const socket2 = FakeSocket.last;
  socket2.open();
  await tick();
  const hello = socket2.sent[0];
  assert.equal(hello.type, 'hello');
  assert.equal(hello.replica_id, replica);
  socket2.deliver({ type: 'hello_ack', doc_id: 'notes', replica_id: hello.replica_id, server_seq: 0, epoch: 'e', resync: 'replay' });
  await tick();
  assert.deepEqual(ops(socket2).map((op) => [op.seq, op.text]), [[0, 'held']], 'the same edit, the same id, sent again');
  socket2.deliver({ type: 'op_echo', server_seq: 1, replica_id: hello.replica_id, op: ops(socket2)[0] });
  assert.equal(back.status.pending, 0);
});

test('a client whose writes failed goes on unpersisted and still lets the store go on close', async () => {
  const { Store, disk } = memoryStore();
  const c = client(Store);
  await c.ready;
  const errors = [];
  c.on('error', (e) => errors.push(e.code));
  let fail;
  disk.gate = new Promise((_, reject) => (fail = reject));
  disk.gate.catch(() => {});
  c.insert(0, 'lost disk');
  await tick();
  fail(new Error('disk full'));
  await tick();
  await tick();
  assert.deepEqual(errors, ['persist_failed']);
  assert.equal(c.saved, false);
  assert.equal(c.text(), 'lost disk', 'the edit stays in the document');
  disk.gate = null;
  await c.close();
  clients.pop();
  assert.equal(disk.held, false, 'the store (its lock) is let go');
  const next = client(Store);
  await next.ready;
  assert.equal(next.persisted, true, 'another client may own it');
});

test('a client without a store never says it is saved', async () => {
  const c = new CollabClient({ url: 'http://relay.test', docId: 'notes', WebSocket: FakeSocket, connect: false });
  clients.push(c);
  c.insert(0, 'x');
  await tick();
  assert.equal(c.saved, false);
});

test('a second client of the same document while the first holds the store runs unpersisted', async () => {
  const { Store, size } = memoryStore();
  const one = client(Store);
  const two = client(Store);
  await Promise.all([one.ready, two.ready]);
  assert.equal(one.persisted, true);
  assert.equal(two.persisted, false);
  assert.notEqual(one.replicaId, two.replicaId, 'never the same replica twice');
  two.insert(0, 'not kept');
  one.insert(0, 'kept');
  await tick();
  await one.close();
  clients.shift();
  const three = client(Store);
  await three.ready;
  assert.equal(three.text(), 'kept');
  assert.equal(size(), 1);
});

test('edits before the stored document is loaded are refused', async () => {
  const { Store } = memoryStore();
  const c = client(Store);
  assert.throws(() => c.insert(0, 'too soon'), /await client.ready/);
  await c.ready;
  c.insert(0, 'fine');
  assert.equal(c.text(), 'fine');
});

test('a client closed while its document loads lets the store go', async () => {
  const { Store, disk } = memoryStore();
  const c = client(Store);
  await c.close();
  await c.ready;
  assert.equal(disk.held, false, 'the lock is released');
  const again = client(Store);
  await again.ready;
  assert.ok(again.persisted);
});

/** Lets promise callbacks and their writes run (setImmediate is not mocked). */
const settle = () => new Promise((done) => setImmediate(done));

test('a long log is compacted once the edits pause, not while they go on', async (t) => {
  const { Store, disk, size } = memoryStore();
  const c = client(Store);
  await c.ready;
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const typed = COMPACT_AFTER + 10;
  for (let i = 0; i < typed; i++) {
    c.insert(c.length, 'x');
    await settle();
  }
  assert.equal(disk.log.length, typed, 'every edit appended; none waited for a snapshot');
  t.mock.timers.tick(COMPACT_IDLE_MS - 1);
  await settle();
  assert.equal(disk.log.length, typed, 'no compaction before the pause is long enough');
  c.insert(c.length, 'y');
  await settle();
  t.mock.timers.tick(COMPACT_IDLE_MS - 1);
  await settle();
  assert.equal(disk.log.length, typed + 1, 'the last edit put the compaction off');
  t.mock.timers.tick(1);
  await settle();
  assert.equal(size(), 1, 'the pause compacted the store into one snapshot');
  await c.close();
  clients.pop();
  const again = client(Store);
  await again.ready;
  assert.equal(again.text(), 'x'.repeat(typed) + 'y');
});

test('edits that never pause are compacted at the hard cap', async (t) => {
  const { Store, disk } = memoryStore();
  const c = client(Store);
  await c.ready;
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let longest = 0;
  for (let i = 0; i < COMPACT_MAX + 5; i++) {
    c.insert(c.length, 'z');
    await settle();
    longest = Math.max(longest, disk.log.length);
  }
  assert.equal(longest, COMPACT_MAX, 'the log never passed the cap');
  assert.ok(disk.log.length < 10, `compacted at the cap: ${disk.log.length} entries left`);
  assert.equal(c.text(), 'z'.repeat(COMPACT_MAX + 5));
});
