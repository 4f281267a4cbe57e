// anchors.js: presence selections as anchors in their JSON form
// (docs/crdt.md §13, docs/protocol.md §5a), made and resolved through the
// wasm session, which knows the characters: what CollabClient sends for
// this client's selections and reads back for the others'.

/** A selection as anchors, as `Selection::new` makes it. */
export function selectionAnchors(session, anchor, head) {
  if (anchor === head) {
    const caret = anchorAt(session, head, false);
    return { anchor: caret, head: caret };
  }
  const start = anchorAt(session, Math.min(anchor, head), true);
  const end = anchorAt(session, Math.max(anchor, head), false);
  return anchor < head ? { anchor: start, head: end } : { anchor: end, head: start };
}

/** The anchor in its JSON form for UTF-16 offset `index`. */
function anchorAt(session, index, before) {
  const [kind, lamport, replicaId] = session.anchorAt(index, before);
  if (kind === 0) return 'start';
  if (kind === 1) return 'end';
  return { lamport, replica_id: replicaId, side: before ? 'before' : 'after' };
}

/** An anchor's UTF-16 offset in the session's current text, or null while it cannot be resolved. */
export function resolveAnchor(session, anchor) {
  if (anchor === 'start') return 0;
  if (anchor === 'end') return session.length;
  if (anchor === null || typeof anchor !== 'object') return null;
  const offset = session.resolveAnchor(anchor.lamport, anchor.replica_id, anchor.side === 'before');
  return offset < 0 ? null : offset;
}
