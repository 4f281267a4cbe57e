// text.d.ts: types of text.js, the string helpers for editor bindings.

import type { Splice } from "./collab_crdt.js";

export type { Splice };

/** The smallest splice turning `before` into `after`; among equals, the one whose insertion ends at `caret`. */
export function diffText(before: string, after: string, caret?: number): Splice;

/** Where `pos` goes when `splice` is applied; `bias` decides for a position exactly at an insertion. */
export function transformIndex(pos: number, splice: Splice, bias?: "before" | "after"): number;

/** A selection `[start, end]` moved through `splice`. */
export function transformSelection(start: number, end: number, splice: Splice): [number, number];

/** `splices` applied to `text` in order. */
export function applySplices(text: string, splices: ReadonlyArray<Splice>): string;
