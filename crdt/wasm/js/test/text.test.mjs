// text.test.mjs: the binding's string helpers in Node.js: diffText finds
// the user's edit (right place among repeated letters, never half a
// surrogate pair), transformSelection follows the caret rules, and random
// edits round-trip.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pkg } from './pkg.mjs';

const { diffText, transformIndex, transformSelection, applySplices } = await pkg();

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

test('diffText finds typing, deleting and replacing where the caret says', () => {
  const cases = [
    // [before, after, caret, expected splice]
    ['abc', 'abXc', 3, { index: 2, deleteCount: 0, insert: 'X' }],
    ['aa', 'aaa', 2, { index: 1, deleteCount: 0, insert: 'a' }],
    ['aa', 'aaa', 1, { index: 0, deleteCount: 0, insert: 'a' }],
    ['aa', 'aaa', 3, { index: 2, deleteCount: 0, insert: 'a' }],
    ['aa', 'a', 0, { index: 0, deleteCount: 1, insert: '' }],
    ['aa', 'a', 1, { index: 1, deleteCount: 1, insert: '' }],
    ['hello world', 'hello there world', 12, { index: 6, deleteCount: 0, insert: 'there ' }],
    ['select this word', 'select X word', 8, { index: 7, deleteCount: 4, insert: 'X' }],
    ['', 'pasted\ntext', 11, { index: 0, deleteCount: 0, insert: 'pasted\ntext' }],
    ['abc', '', 0, { index: 0, deleteCount: 3, insert: '' }],
    ['same', 'same', 2, { index: 2, deleteCount: 0, insert: '' }],
  ];
  for (const [before, after, caret, expected] of cases) {
    const got = diffText(before, after, caret);
    assert.deepEqual(got, expected, `${JSON.stringify(before)} -> ${JSON.stringify(after)} at ${caret}`);
    assert.equal(applySplices(before, [got]), after);
  }
});

test('diffText never cuts a surrogate pair', () => {
  // 😀 and 😁 share their high surrogate: the change is the whole pair.
  assert.deepEqual(diffText('a😀b', 'a😁b', 3), { index: 1, deleteCount: 2, insert: '😁' });
  // 𝕏 and 𝕐 too; inserted before a pair with the same low half.
  assert.deepEqual(diffText('𝕏', '𝕐𝕏', 2), { index: 0, deleteCount: 0, insert: '𝕐' });
  assert.deepEqual(diffText('👋🏽', '👋🏿', 4), { index: 2, deleteCount: 2, insert: '🏿' });
  // A combining mark is a character of its own.
  assert.deepEqual(diffText('e', 'e\u0301', 2), { index: 1, deleteCount: 0, insert: '\u0301' });
});

test('random edits round-trip and never split a pair', () => {
  const alphabet = ['a', 'b', 'é', 'e\u0301', '😀', '😁', '𝕏', '𝕐', '中', '\n'];
  let seed = 12345;
  const rand = (n) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const randomText = (n) => Array.from({ length: n }, () => alphabet[rand(alphabet.length)]).join('');
  for (let i = 0; i < 2000; i++) {
    const units = [...randomText(rand(8))];
    const before = units.join('');
    // Replace a random run of code points with random text.
    const start = rand(units.length + 1);
    const end = start + rand(units.length - start + 1);
    const inserted = randomText(rand(3));
    const after = units.slice(0, start).join('') + inserted + units.slice(end).join('');
    const caret = units.slice(0, start).join('').length + inserted.length;
    for (const hint of [caret, undefined, rand(after.length + 1)]) {
      const splice = diffText(before, after, hint);
      assert.equal(applySplices(before, [splice]), after);
      assert.ok(!LONE_SURROGATE.test(before.slice(0, splice.index)), 'start inside a pair');
      assert.ok(!LONE_SURROGATE.test(before.slice(splice.index + splice.deleteCount)), 'end inside a pair');
      assert.ok(!LONE_SURROGATE.test(splice.insert), 'half a pair inserted');
      // The caret only chooses among the smallest splices.
      assert.ok(splice.deleteCount <= diffText(before, after).deleteCount);
    }
  }
});

test('a remote splice moves the caret only when it is before it', () => {
  const insert = (index, text) => ({ index, deleteCount: 0, insert: text });
  const del = (index, n) => ({ index, deleteCount: n, insert: '' });
  // Collapsed caret at 5.
  assert.deepEqual(transformSelection(5, 5, insert(0, 'XX')), [7, 7], 'insert before');
  assert.deepEqual(transformSelection(5, 5, insert(5, 'XX')), [5, 5], 'insert at the caret stays after it');
  assert.deepEqual(transformSelection(5, 5, insert(6, 'XX')), [5, 5], 'insert after');
  assert.deepEqual(transformSelection(5, 5, del(0, 2)), [3, 3], 'delete before');
  assert.deepEqual(transformSelection(5, 5, del(3, 4)), [3, 3], 'delete around');
  assert.deepEqual(transformSelection(5, 5, del(5, 2)), [5, 5], 'delete after');
  assert.deepEqual(
    transformSelection(5, 5, { index: 2, deleteCount: 3, insert: 'abcd' }),
    [6, 6],
    'replace ending at the caret',
  );
  // A selection [2, 7] does not take in text inserted at its edges.
  assert.deepEqual(transformSelection(2, 7, insert(2, 'XX')), [4, 9]);
  assert.deepEqual(transformSelection(2, 7, insert(7, 'XX')), [2, 7]);
  assert.deepEqual(transformSelection(2, 7, insert(4, 'XX')), [2, 9], 'inside grows');
  assert.deepEqual(transformSelection(2, 7, del(0, 10)), [0, 0], 'deleted: collapsed');
  assert.equal(transformIndex(3, insert(3, 'ab'), 'after'), 5);
  assert.equal(transformIndex(3, insert(3, 'ab'), 'before'), 3);
});
