// text.js: pure string helpers for editor bindings, in UTF-16 units as
// JavaScript strings count: the edit that turns one text into another
// (diffText), and where a position or selection goes when a remote splice
// changes the text around it (transformIndex, transformSelection).

function isHigh(code) {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLow(code) {
  return code >= 0xdc00 && code <= 0xdfff;
}

/**
 * The splice between the longest common prefix and suffix, measured in one
 * of two orders. `caret` (optional) bounds the search so that the changed
 * part of `after` ends at it: the prefix may not pass it, the suffix may
 * not reach before it. That is where a browser leaves the caret after
 * typing, pasting or deleting.
 */
function diffWith(before, after, prefixFirst, caret) {
  const a = before.length;
  const b = after.length;
  const prefixBound = caret ?? b;
  const suffixBound = caret === undefined ? b : b - caret;
  let prefix = 0;
  let suffix = 0;
  const growPrefix = () => {
    const max = Math.min(a - suffix, b - suffix, prefixBound);
    while (prefix < max && before.charCodeAt(prefix) === after.charCodeAt(prefix)) prefix++;
  };
  const growSuffix = () => {
    const max = Math.min(a - prefix, b - prefix, suffixBound);
    while (suffix < max && before.charCodeAt(a - 1 - suffix) === after.charCodeAt(b - 1 - suffix)) suffix++;
  };
  if (prefixFirst) {
    growPrefix();
    growSuffix();
  } else {
    growSuffix();
    growPrefix();
  }
  // Never cut a surrogate pair: a shared high half whose low halves differ
  // belongs to the change, and so does a shared low half after a change.
  if (prefix > 0 && isHigh(after.charCodeAt(prefix - 1))) prefix--;
  if (suffix > 0 && isLow(after.charCodeAt(b - suffix))) suffix--;
  return { index: prefix, deleteCount: a - prefix - suffix, insert: after.slice(prefix, b - suffix) };
}

/**
 * The one splice that turns `before` into `after`: at `index`, remove
 * `deleteCount` code units and insert `insert`. It is the smallest found
 * from either end; among equally small ones, the one whose inserted text
 * ends at `caret` (the caret after the user's input) wins, so that typing
 * "a" into "aa" between the two letters is an insert at 1, not at 2.
 * @param {string} before
 * @param {string} after
 * @param {number} [caret]
 * @returns {{index: number, deleteCount: number, insert: string}}
 */
export function diffText(before, after, caret) {
  const candidates = [];
  if (caret !== undefined && caret !== null) {
    candidates.push(diffWith(before, after, false, Math.max(0, Math.min(after.length, caret | 0))));
  }
  candidates.push(diffWith(before, after, true), diffWith(before, after, false));
  // The same change in length: the fewest deleted units is also the fewest inserted.
  return candidates.reduce((best, c) => (c.deleteCount < best.deleteCount ? c : best));
}

/**
 * Where position `pos` goes when `splice` is applied to the text. A
 * position before the splice stays; one after it moves by the change in
 * length; one inside the deleted range moves to the splice's start. A
 * position exactly at an insertion stays before the inserted text when
 * `bias` is "before", and moves past it when "after".
 * @param {number} pos
 * @param {{index: number, deleteCount: number, insert: string}} splice
 * @param {"before" | "after"} [bias]
 */
export function transformIndex(pos, splice, bias = 'before') {
  const { index, deleteCount, insert } = splice;
  const end = index + deleteCount;
  if (pos < index) return pos;
  if (pos > index && pos >= end) return pos - deleteCount + insert.length;
  // At the splice's start, or inside the deleted range.
  return bias === 'after' ? index + insert.length : index;
}

/**
 * Moves a selection through a splice. A collapsed caret keeps its place
 * before text inserted exactly at it; a range does not grow to take in text
 * inserted at its edges, and collapses when its text is deleted.
 * @returns {[number, number]}
 */
export function transformSelection(start, end, splice) {
  if (start === end) {
    const caret = transformIndex(start, splice, 'before');
    return [caret, caret];
  }
  const s = transformIndex(start, splice, 'after');
  const e = transformIndex(end, splice, 'before');
  return s <= e ? [s, e] : [e, e];
}

/**
 * Applies splices to a string, in order.
 * @param {string} text
 * @param {ReadonlyArray<{index: number, deleteCount: number, insert: string}>} splices
 */
export function applySplices(text, splices) {
  let out = text;
  for (const { index, deleteCount, insert } of splices) {
    out = out.slice(0, index) + insert + out.slice(index + deleteCount);
  }
  return out;
}
