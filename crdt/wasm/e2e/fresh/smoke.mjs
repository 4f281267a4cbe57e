// smoke.mjs: run with Node.js in a fresh project that installed the packed
// package (and CodeMirror): it loads, its WebAssembly initialises from the
// package folder, two documents exchange edits, and the CodeMirror subpath
// resolves against the project's own @codemirror/state.

import { EditorState } from '@codemirror/state';
import init, { CollabClient, Doc, diffText } from 'collab-crdt';
import { collab, sendChanges } from 'collab-crdt/codemirror';

await init();
const a = new Doc(1);
const b = new Doc(2);
a.insert(0, 'hello 👋');
b.applyAll(a.opsSince());
b.insert(b.length, '!');
a.applyAll(b.opsSince(a.version()));
if (a.text() !== 'hello 👋!' || Buffer.compare(a.encode(), b.encode()) !== 0) {
  throw new Error(`the package does not work: ${a.text()}`);
}
if (diffText('ab', 'abc', 3).insert !== 'c') throw new Error('diffText');
const client = new CollabClient({ url: 'http://localhost:8000', docId: 'smoke', connect: false, WebSocket: class {} });
const state = EditorState.create({ doc: 'a\r\nb', extensions: collab(client, { presence: false }) });
const tr = state.update({ changes: [{ from: 0, insert: '>' }, { from: 4, insert: '!' }] });
client.insert(0, 'a\r\nb');
sendChanges(client, tr.changes);
if (client.text() !== '>a\r\nb!' || tr.state.doc.toString() !== client.text()) {
  throw new Error(`collab-crdt/codemirror does not work: ${JSON.stringify(client.text())}`);
}
client.close();
console.log('collab-crdt installed and working:', a.text());
