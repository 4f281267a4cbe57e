// smoke.mjs: run with Node.js in a fresh project that installed the packed
// package: it loads, its WebAssembly initialises from the package folder,
// and two documents exchange edits.

import init, { Doc, diffText } from 'collab-crdt';

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
console.log('collab-crdt installed and working:', a.text());
