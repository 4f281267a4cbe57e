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
 * Common prefix then common suffix (prefixFirst), or common suffix then
 * prefix bounded by the caret: the changed part of `after` must end at
 * `caret` when it can, which is where a browser leaves the caret after
 * typing, pasting or deleting.
 */
function diffWith(before, after, prefixFirst, caret) {
  const a = before.length;
  const b = after.length;
  let prefix = 0;
  let suffix = 0;
  if (prefixFirst) {
    const maxPrefix = Math.min(a, b);
    while (prefix < maxPrefix && before.charCodeAt(prefix) === after.charCodeAt(prefix)) prefix++;
    const maxSuffix = Math.min(a, b) - prefix;
    while (suffix < maxSuffix && before.charCodeAt(a - 1 - suffix) === after.charCodeAt(b - 1 - suffix)) suffix++;
  } else {
    const maxSuffix = Math.min(a, b, b - caret);
    while (suffix < maxSuffix && before.charCodeAt(a - 1 - suffix) === after.charCodeAt(b - 1 - suffix)) suffix++;
    const maxPrefix = Math.min(a - suffix, b - suffix, caret);
    while (prefix < maxPrefix && before.charCodeAt(prefix) === after.charCodeAt(prefix)) prefix++;
  }
  // Never cut a surrogate pair: a shared high half whose low halves differ
  // belongs to the change, and so does a shared low half after a change.
  if (prefix > 0 && isHigh(after.charCodeAt(prefix - 1))) prefix--;
  if (suffix > 0 && isLow(after.charCodeAt(b - suffix))) suffix--;
  return { index: prefix, deleteCount: a - prefix - suffix, insert: after.slice(prefix, b - suffix) };
}

/**
 * The one splice that turns `before` into `after`: at `index`, remove
 * `deleteCount` code units and insert `insert`. It is as small as possible;
 * among the smallest, the one whose inserted text ends at `caret` (the
 * caret after the user's input) is chosen, so that typing "a" into "aa"
 * between the two letters is an insert at 1, not at 2.
 * @param {string} before
 * @param {string} after
 * @param {number} [caret]
 * @returns {{index: number, deleteCount: number, insert: string}}
 */
export function diffText(before, after, caret) {
  const minimal = diffWith(before, after, true, 0);
  if (caret === undefined || caret === null) return minimal;
  const clamped = Math.max(0, Math.min(after.length, caret | 0));
  const hinted = diffWith(before, after, false, clamped);
  return hinted.deleteCount === minimal.deleteCount ? hinted : minimal;
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
