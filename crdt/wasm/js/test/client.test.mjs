// client.test.mjs: CollabClient in Node.js against a scripted relay (a fake
// WebSocket whose frames the test writes by hand): the handshake and the
// status it reports, sending and acknowledging edits, resending what was
// not acknowledged, backoff with jitter, the close codes that stop it, a
// server_seq gap, snapshot resync, held frames, and close().

import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { pkg } from './pkg.mjs';

const { CollabClient, Doc, reconnectDelay, relayWebSocketUrl, RECONNECT_DEFAULTS } = await pkg();

/** A WebSocket the test drives: `open()`, `deliver(msg)`, `serverClose(code)`. */
class FakeSocket {
  static all = [];
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedBy = null;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    FakeSocket.all.push(this);
  }
  send(data) {
    assert.equal(this.readyState, 1, 'send on an open socket only');
    this.sent.push(JSON.parse(data));
  }
  close(code, reason) {
    this.readyState = 3;
    this.closedBy = { code, reason };
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  deliver(msg) {
    this.onmessage?.({ data: JSON.stringify(msg) });
  }
  serverClose(code, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  static last() {
    return FakeSocket.all.at(-1);
  }
}

const FAST = { initialDelayMs: 20, maxDelayMs: 200, factor: 2, jitter: 0.5, connectTimeoutMs: 500, stableAfterMs: 10_000, resendDelayMs: 20 };
const clients = [];

function client(options = {}) {
  const c = new CollabClient({
    url: 'http://relay.test:8000',
    docId: 'notes',
    replicaId: 7,
    WebSocket: FakeSocket,
    reconnect: FAST,
    random: () => 0.5,
    ...options,
  });
  clients.push(c);
  return c;
}

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
  FakeSocket.all = [];
});

async function until(condition, what) {
  const deadline = Date.now() + 3000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((done) => setTimeout(done, 2));
  }
}

const tick = () => new Promise((done) => setTimeout(done, 0));

function ack(socket, { head = 0, resync = 'replay', epoch = 'e1' } = {}) {
  socket.deliver({ type: 'hello_ack', doc_id: 'notes', replica_id: 7, server_seq: head, epoch, resync });
}

/** The relay's log for the test: echoes ops with the next server_seq. */
function relayLog() {
  let seq = 0;
  return {
    echo(socket, op) {
      seq += 1;
      socket.deliver({ type: 'op_echo', server_seq: seq, replica_id: op.replica_id, op });
      return seq;
    },
    get head() {
      return seq;
    },
  };
}

test('the relay URL becomes its WebSocket URL', () => {
  assert.equal(relayWebSocketUrl('http://h:8000'), 'ws://h:8000/ws');
  assert.equal(relayWebSocketUrl('https://h/'), 'wss://h/ws');
  assert.equal(relayWebSocketUrl('ws://h:1/ws'), 'ws://h:1/ws');
});

test('backoff grows, is capped, and jitter takes off up to half', () => {
  const p = { ...RECONNECT_DEFAULTS, initialDelayMs: 100, maxDelayMs: 1000 };
  assert.equal(reconnectDelay(0, p, () => 0), 100);
  assert.equal(reconnectDelay(1, p, () => 0), 200);
  assert.equal(reconnectDelay(3, p, () => 0), 800);
  assert.equal(reconnectDelay(9, p, () => 0), 1000);
  assert.equal(reconnectDelay(0, p, () => 0.999999), 50);
  for (let i = 0; i < 100; i++) {
    const d = reconnectDelay(2, p);
    assert.ok(d >= 200 && d <= 400, `${d}`);
  }
});

test('handshake, edits, acknowledgement: statuses in order', async () => {
  const c = client();
  const states = [];
  c.on('status', (s) => states.push(s.state));
  const saved = [];
  c.on('saved', (e) => saved.push(e));
  const ws = FakeSocket.last();
  assert.equal(ws.url, 'ws://relay.test:8000/ws');
  assert.equal(c.state, 'connecting');
  c.insert(0, 'hi 👋'); // before the connection: kept
  ws.open();
  assert.deepEqual(ws.sent, [{ type: 'hello', doc_id: 'notes', replica_id: 7, presence: true }]);
  ack(ws);
  assert.equal(c.state, 'live');
  assert.equal(ws.sent[1].type, 'op');
  const log = relayLog();
  for (const op of ws.sent[1].ops) log.echo(ws, op);
  assert.deepEqual(saved.at(-1), { serverSeq: 1, pending: 0 });
  assert.equal(c.status.savedServerSeq, 1);
  assert.equal(c.status.serverSeq, 1);
  // Edits while live go out in the next microtask, one frame per tick.
  c.insert(5, '!');
  c.delete(0, 1);
  assert.equal(ws.sent.length, 2);
  await tick();
  assert.equal(ws.sent.length, 3);
  assert.equal(ws.sent[2].ops.length, 2);
  assert.equal(c.status.pending, 2);
  assert.equal(c.text(), 'i 👋!');
  assert.deepEqual(states.slice(0, 3), ['connecting', 'syncing', 'live']);
});

test('unacknowledged edits are sent again after a reconnect; replay catches up first', async () => {
  const c = client();
  let ws = FakeSocket.last();
  ws.open();
  ack(ws);
  c.insert(0, 'abc');
  await tick();
  const first = ws.sent[1].ops;
  ws.serverClose(1006);
  assert.equal(c.state, 'reconnecting');
  assert.ok(c.status.retryInMs > 0 && c.status.retryInMs <= FAST.initialDelayMs);
  c.insert(3, 'd'); // offline edit
  await until(() => FakeSocket.all.length === 2, 'a second socket');
  ws = FakeSocket.last();
  ws.open();
  assert.equal(ws.sent[0].type, 'hello');
  // The relay has one op of another replica the client missed.
  const other = new Doc(9);
  other.insert(0, 'X');
  const [remote] = other.opsSince();
  ack(ws, { head: 1 });
  assert.equal(c.state, 'syncing', 'not live before the replay reaches the head');
  assert.deepEqual(ws.sent[1].ops.slice(0, first.length), first, 'the same ops again');
  const changes = [];
  c.on('change', (e) => changes.push(e));
  ws.deliver({ type: 'op_echo', server_seq: 1, replica_id: 9, op: remote });
  assert.equal(c.state, 'live');
  assert.deepEqual(changes, [{ origin: 'remote', serverSeq: 1, splices: [{ index: 0, deleteCount: 0, insert: 'X' }] }]);
  assert.equal(c.text(), 'Xabcd');
});

test('backoff grows while attempts fail, and a stable connection resets it', async () => {
  const c = client({ random: () => 0 });
  const delays = [];
  c.on('status', (s) => {
    if (s.state === 'reconnecting') delays.push(s.retryInMs);
  });
  for (let i = 0; i < 4; i++) {
    const ws = FakeSocket.last();
    ws.serverClose(1006);
    await until(() => FakeSocket.all.length === i + 2, `attempt ${i + 2}`);
  }
  // 20, 40, 80, 160 ms (no jitter with random() = 0), give or take a millisecond.
  assert.deepEqual(delays.map((d) => Math.round(d / 10) * 10), [20, 40, 80, 160]);
  assert.equal(c.status.attempt, 4);
});

test('superseded and protocol errors stop it; 4008 reconnects at once', async () => {
  const c = client();
  FakeSocket.last().serverClose(4008, 'too_slow');
  await until(() => FakeSocket.all.length === 2, 'immediate reconnect');
  const ws = FakeSocket.last();
  ws.open();
  ack(ws);
  ws.deliver({ type: 'error', code: 'superseded', message: 'replaced', fatal: true, close_code: 4009 });
  ws.serverClose(4009, 'superseded');
  assert.equal(c.state, 'offline');
  assert.equal(c.status.error.code, 'superseded');
  await new Promise((done) => setTimeout(done, 60));
  assert.equal(FakeSocket.all.length, 2, 'no reconnect');
  c.goOnline();
  assert.equal(FakeSocket.all.length, 3);
});

test('a gap in server_seq drops the connection and reconnects', async () => {
  const c = client();
  const errors = [];
  c.on('error', (e) => errors.push(e.code));
  const ws = FakeSocket.last();
  ws.open();
  ack(ws);
  const other = new Doc(9);
  other.insert(0, 'X');
  ws.deliver({ type: 'op_echo', server_seq: 2, replica_id: 9, op: other.opsSince()[0] });
  assert.deepEqual(errors, ['server_seq_gap']);
  assert.equal(ws.closedBy.code, 1000);
  assert.equal(c.state, 'reconnecting');
  await until(() => FakeSocket.all.length === 2, 'reconnect');
  assert.equal(c.text(), '', 'nothing of the bad frame was applied');
});

test('a snapshot resync replaces the text and keeps local edits', async () => {
  const c = client();
  let ws = FakeSocket.last();
  ws.open();
  ack(ws);
  c.insert(0, 'mine');
  await tick();
  ws.serverClose(1011);
  await until(() => FakeSocket.all.length === 2, 'reconnect');
  ws = FakeSocket.last();
  ws.open();
  ack(ws, { head: 1, resync: 'snapshot', epoch: 'e2' });
  assert.equal(c.state, 'syncing');
  const theirs = new Doc(9);
  theirs.insert(0, 'theirs ');
  const data = Buffer.from(theirs.encode()).toString('base64');
  const changes = [];
  c.on('change', (e) => changes.push(e));
  ws.deliver({ type: 'snapshot', doc_id: 'notes', server_seq: 1, data });
  assert.equal(c.state, 'live');
  assert.equal(changes[0].origin, 'snapshot');
  assert.equal(c.text(), 'theirs mine');
  assert.equal(ws.sent.at(-1).type, 'op', 'the local edit is sent again');
});

test('held frames wait, then apply in order', () => {
  const c = client();
  const ws = FakeSocket.last();
  ws.open();
  ack(ws);
  const other = new Doc(9);
  other.insert(0, 'ab');
  other.insert(0, 'c');
  const ops = other.opsSince();
  assert.equal(ops.length, 2);
  c.holdRemote();
  ws.deliver({ type: 'op_echo', server_seq: 1, replica_id: 9, op: ops[0] });
  ws.deliver({ type: 'op_echo', server_seq: 2, replica_id: 9, op: ops[1] });
  assert.equal(c.text(), '');
  c.releaseRemote();
  assert.equal(c.text(), 'cab');
  assert.equal(c.status.serverSeq, 2);
});

test('missing_dependency: the outbox is resent on a new connection', async () => {
  const c = client();
  const ws = FakeSocket.last();
  ws.open();
  ack(ws);
  c.insert(0, 'x');
  await tick();
  ws.deliver({ type: 'error', code: 'missing_dependency', message: 'later', fatal: false, index: 0 });
  await until(() => FakeSocket.all.length === 2, 'resend connection');
  const next = FakeSocket.last();
  next.open();
  ack(next, { head: 0 });
  assert.equal(next.sent[1].ops[0].text, 'x');
});

test('goOffline keeps edits local; goOnline sends them', async () => {
  const c = client();
  let ws = FakeSocket.last();
  ws.open();
  ack(ws);
  c.goOffline();
  assert.equal(c.state, 'offline');
  assert.equal(ws.closedBy.code, 1000);
  c.insert(0, 'offline');
  await new Promise((done) => setTimeout(done, 60));
  assert.equal(FakeSocket.all.length, 1, 'stays offline');
  c.goOnline();
  ws = FakeSocket.last();
  ws.open();
  ack(ws);
  assert.equal(ws.sent[1].ops[0].text, 'offline');
});

test('no answer to hello: the attempt is abandoned and retried', async () => {
  client();
  FakeSocket.last().open();
  await until(() => FakeSocket.all.length === 2, 'retry after the connect timeout');
  assert.equal(FakeSocket.all[0].closedBy.code, 1000);
});

test('close() ends everything', async () => {
  const c = new CollabClient({ url: 'http://relay.test', docId: 'd', WebSocket: FakeSocket, reconnect: FAST });
  assert.ok(c.replicaId >= 1 && c.replicaId <= Number.MAX_SAFE_INTEGER && Number.isInteger(c.replicaId));
  const ws = FakeSocket.last();
  ws.open();
  c.close();
  assert.equal(c.state, 'closed');
  assert.equal(ws.closedBy.code, 1000);
  assert.throws(() => c.insert(0, 'x'), /closed/);
  await new Promise((done) => setTimeout(done, 60));
  assert.equal(FakeSocket.all.length, 1);
  const err = (() => {
    try {
      new CollabClient({ url: 'http://relay.test', docId: 'd', replicaId: 0, WebSocket: FakeSocket });
    } catch (e) {
      return e;
    }
  })();
  assert.equal(err.code, 'reserved_replica');
});

test('presence: sent after the edits once live, the others resolved against the current text, gone on removal and on disconnect', async () => {
  const c = client();
  const ws = FakeSocket.last();
  c.insert(0, '👋 hello');
  c.setPresence({ selections: [{ anchor: 3, head: 8 }], data: { name: 'Ann', color: '#d33' } });
  ws.open();
  ack(ws);
  await tick();
  assert.deepEqual(
    ws.sent.map((m) => m.type),
    ['hello', 'op', 'presence'],
    'the presence follows the edit whose characters it names',
  );
  const sent = ws.sent[2];
  assert.deepEqual(sent.data, { name: 'Ann', color: '#d33' });
  assert.equal(sent.selections.length, 1);
  assert.equal(sent.selections[0].head.side, 'after');
  // Only the selection changes: the data is kept.
  c.setPresence({ selections: [{ anchor: 8, head: 8 }] });
  await tick();
  assert.deepEqual(ws.sent.at(-1).data, { name: 'Ann', color: '#d33' });
  // Bob's caret after the emoji and the space (UTF-16 offset 3).
  const log = relayLog();
  for (const op of ws.sent[1].ops) log.echo(ws, op);
  const events = [];
  c.on('presence', (map) => events.push(map));
  const caret = { lamport: 2, replica_id: 7, side: 'after' };
  ws.deliver({ type: 'presence', replica_id: 9, selections: [{ anchor: caret, head: caret }], data: { name: 'Bob' } });
  assert.equal(events.length, 1);
  assert.deepEqual(c.presence.get(9), { replicaId: 9, sub: null, data: { name: 'Bob' }, selections: [{ anchor: 3, head: 3 }] });
  // A local edit before it, not acknowledged yet, moves it along.
  c.insert(0, '>> ');
  assert.deepEqual(c.presence.get(9).selections, [{ anchor: 6, head: 6 }]);
  // A caret on text not received yet is left out until it arrives.
  const ahead = { lamport: 1, replica_id: 11, side: 'after' };
  ws.deliver({ type: 'presence', replica_id: 11, selections: [{ anchor: ahead, head: ahead }] });
  assert.deepEqual(c.presence.get(11).selections, []);
  log.echo(ws, { kind: 'insert', replica_id: 11, seq: 0, lamport: 1, parent_id: null, text: 'x' });
  const afterX = c.text().indexOf('x') + 1;
  assert.deepEqual(c.presence.get(11).selections, [{ anchor: afterX, head: afterX }]);
  ws.deliver({ type: 'presence_removed', replica_id: 9 });
  assert.deepEqual([...c.presence.keys()], [11]);
  assert.deepEqual([...events.at(-1).keys()], [11]);
  ws.serverClose(1006);
  assert.equal(c.presence.size, 0, 'nobody is known while offline');
  assert.equal(events.at(-1).size, 0);
  // The next connection sends the presence again.
  await until(() => FakeSocket.all.length === 2, 'a reconnect');
  const ws2 = FakeSocket.last();
  ws2.open();
  ack(ws2, { head: log.head });
  await tick();
  assert.ok(ws2.sent.some((m) => m.type === 'presence'), 'presence sent again');
});

test('getToken is called before every connection and its token goes in that hello', async () => {
  let n = 0;
  const c = client({ getToken: async () => `token-${++n}` });
  await until(() => FakeSocket.all.length === 1, 'first socket');
  const first = FakeSocket.last();
  first.open();
  assert.equal(first.sent[0].token, 'token-1');
  ack(first);
  c.insert(0, 'kept');
  await tick();
  // The token expires while connected: the relay closes with 4011 and
  // the client fetches a new token at once; the unsaved edit goes again.
  first.serverClose(4011, 'token_expired');
  await until(() => FakeSocket.all.length === 2, 'second socket');
  const second = FakeSocket.last();
  second.open();
  assert.equal(second.sent[0].token, 'token-2');
  ack(second);
  assert.equal(second.sent[1].type, 'op');
  assert.equal(second.sent[1].ops[0].text, 'kept');
  assert.equal(c.status.pending, 1);
});

test('a fixed token that the relay refuses stops the client; setToken gives it a new one', async () => {
  const c = client({ token: 'old' });
  const ws = FakeSocket.last();
  ws.open();
  assert.equal(ws.sent[0].token, 'old');
  ws.serverClose(4010, 'unauthorized');
  assert.equal(c.state, 'offline');
  assert.equal(c.status.error.code, 'unauthorized');
  c.setToken('new');
  c.goOnline();
  const again = FakeSocket.last();
  again.open();
  assert.equal(again.sent[0].token, 'new');
});

test('a getToken that fails counts as a failed attempt and is tried again', async () => {
  let calls = 0;
  const c = client({
    getToken: () => {
      calls += 1;
      if (calls === 1) throw new Error('auth server down');
      return 'fine';
    },
  });
  await until(() => FakeSocket.all.length === 1, 'a socket after the retry');
  assert.equal(calls, 2);
  FakeSocket.last().open();
  assert.equal(FakeSocket.last().sent[0].token, 'fine');
  assert.equal(c.state, 'connecting');
});

test('rate_limited: the refused edits wait retryAfterMs and go again on the same socket', async () => {
  const c = client();
  const ws = FakeSocket.last();
  ws.open();
  ack(ws);
  c.insert(0, 'a');
  await tick();
  const op = ws.sent[1].ops[0];
  ws.deliver({ type: 'error', code: 'rate_limited', message: 'slow down', fatal: false, index: 0, seq: op.seq, retry_after_ms: 30 });
  c.insert(1, 'b');
  await tick();
  assert.equal(ws.sent.length, 2, 'nothing is sent during the wait');
  await until(() => ws.sent.length === 3, 'the resend');
  assert.deepEqual(
    ws.sent[2].ops.map((o) => o.text),
    ['a', 'b'],
  );
  assert.equal(FakeSocket.all.length, 1, 'the connection was kept');
  assert.equal(c.status.pending, 2);
});

test('status.readOnly follows hello_ack, and a reader keeps its edits unsent', async () => {
  const c = client();
  const ws = FakeSocket.last();
  ws.open();
  ws.deliver({ type: 'hello_ack', doc_id: 'notes', replica_id: 7, server_seq: 0, epoch: 'e', resync: 'replay', read_only: true });
  assert.equal(c.status.readOnly, true);
  c.insert(0, 'x');
  await tick();
  assert.equal(ws.sent.length, 1, 'only the hello');
  assert.equal(c.status.pending, 1);
});

test('a getToken that never answers times out and is asked again', async () => {
  let calls = 0;
  const errors = [];
  const c = client({
    getToken: () => {
      calls += 1;
      return calls === 1 ? new Promise(() => {}) : 'late-but-fine';
    },
  });
  c.on('error', (e) => errors.push(e.code));
  await until(() => FakeSocket.all.length === 1, 'a socket after the timeout');
  assert.deepEqual(errors, ['token_timeout']);
  FakeSocket.last().open();
  assert.equal(FakeSocket.last().sent[0].token, 'late-but-fine');
});
