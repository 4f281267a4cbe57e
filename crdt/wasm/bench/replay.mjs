// replay.mjs: the benchmark's measurements, shared by Node.js and the
// Chromium page: the same edits replayed through collab-crdt's Doc (and
// through its ClientSession, the path the sync client takes) and through
// Yjs, then the final document's snapshot loaded by each, and by Loro. Runs are
// interleaved, the order rotating each round, and every result is checked
// against the trace's final text.

/**
 * The trace's patches with UTF-16 positions and lengths (what both APIs
 * take); traces count code points, which differ only around astral
 * characters.
 */
export function prepare(trace) {
  const patches = [];
  for (const txn of trace.txns) for (const p of txn.patches) patches.push(p);
  const astral = /[\u{10000}-\u{10FFFF}]/u;
  const hasAstral =
    astral.test(trace.startContent ?? '') || patches.some((p) => astral.test(p[2])) || astral.test(trace.endContent);
  if (!hasAstral) return { start: trace.startContent ?? '', end: trace.endContent, patches };
  // Slow but exact: replay on an array of code points.
  const chars = [...(trace.startContent ?? '')];
  const units = (from, to) => chars.slice(from, to).join('').length;
  const out = patches.map(([pos, del, ins]) => {
    const p = [units(0, pos), units(pos, pos + del), ins];
    chars.splice(pos, del, ...ins);
    return p;
  });
  return { start: trace.startContent ?? '', end: trace.endContent, patches: out };
}

function replayDoc(Doc, { start, patches }) {
  const doc = new Doc(1);
  if (start) doc.insert(0, start);
  for (let i = 0; i < patches.length; i++) {
    const [pos, del, ins] = patches[i];
    if (del > 0 && ins.length > 0) doc.replace(pos, del, ins);
    else if (del > 0) doc.delete(pos, del);
    else doc.insert(pos, ins);
  }
  return doc;
}

function replaySession(ClientSession, { start, patches }) {
  const session = new ClientSession('bench', 1);
  if (start) session.insert(0, start);
  for (let i = 0; i < patches.length; i++) {
    const [pos, del, ins] = patches[i];
    if (del > 0 && ins.length > 0) session.replace(pos, del, ins);
    else if (del > 0) session.delete(pos, del);
    else session.insert(pos, ins);
  }
  return session;
}

function replayYjs(Y, { start, patches }) {
  const ydoc = new Y.Doc();
  const text = ydoc.getText('text');
  if (start) text.insert(0, start);
  for (let i = 0; i < patches.length; i++) {
    const [pos, del, ins] = patches[i];
    if (del > 0) text.delete(pos, del);
    if (ins.length > 0) text.insert(pos, ins);
  }
  return ydoc;
}

function replayLoro(Loro, { start, patches }) {
  const doc = new Loro.LoroDoc();
  const text = doc.getText('text');
  if (start) text.insert(0, start);
  for (let i = 0; i < patches.length; i++) {
    const [pos, del, ins] = patches[i];
    text.splice(pos, del, ins);
  }
  doc.commit();
  return doc;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function summary(xs) {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), runs: xs.length };
}

/**
 * Runs everything `iters` times after one warm-up round (the loads
 * `loadRepeats` times per round), with a full garbage collection before
 * each run when `gc` is given (the loads also without it), and returns medians (and min, max) in
 * milliseconds, plus the snapshot sizes.
 */
export function runAll({ Doc, ClientSession, Y, Loro, prepared, iters, loadRepeats = 10, now = () => performance.now(), gc }) {
  const check = (what, text) => {
    if (text !== prepared.end) throw new Error(`${what}: the final text differs from the trace's`);
  };
  // Warm up, check, and make the snapshots both sides load.
  const doc = replayDoc(Doc, prepared);
  check('collab-crdt replay', doc.text());
  const bytes = doc.encode();
  doc.free();
  const session = replaySession(ClientSession, prepared);
  check('collab-crdt session replay', session.text());
  session.free();
  const ydoc = replayYjs(Y, prepared);
  check('Yjs replay', ydoc.getText('text').toString());
  const update = Y.encodeStateAsUpdate(ydoc);
  ydoc.destroy();
  // Loro's replay is not timed (its text counts UTF-16 units by default,
  // as the prepared patches do); its snapshot, the form it opens a saved
  // document from, is.
  const loroDoc = replayLoro(Loro, prepared);
  check('Loro replay', loroDoc.getText('text').toString());
  const loroSnapshot = loroDoc.export({ mode: 'snapshot' });
  loroDoc.free();

  const tasks = {
    ours_replay() {
      const d = replayDoc(Doc, prepared);
      return () => d.free();
    },
    ours_session_replay() {
      const s = replaySession(ClientSession, prepared);
      return () => s.free();
    },
    yjs_replay() {
      const y = replayYjs(Y, prepared);
      return () => y.destroy();
    },
    ours_load() {
      const d = Doc.decode(2, bytes);
      const text = d.text();
      return () => {
        check('collab-crdt load', text);
        d.free();
      };
    },
    loro_load() {
      const l = Loro.LoroDoc.fromSnapshot(loroSnapshot);
      const text = l.getText('text').toString();
      return () => {
        check('Loro load', text);
        l.free();
      };
    },
    yjs_load() {
      const y = new Y.Doc();
      Y.applyUpdate(y, update);
      const text = y.getText('text').toString();
      return () => {
        check('Yjs load', text);
        y.destroy();
      };
    },
  };
  // The loads again without the forced collection: then the garbage of
  // earlier runs is collected during whichever run V8 chooses.
  tasks.ours_load_nogc = tasks.ours_load;
  tasks.yjs_load_nogc = tasks.yjs_load;
  tasks.loro_load_nogc = tasks.loro_load;
  const noGc = new Set(['ours_load_nogc', 'yjs_load_nogc', 'loro_load_nogc']);
  // Loads take milliseconds: each round runs them `loadRepeats` times for a
  // steadier median.
  const repeats = Object.fromEntries(Object.keys(tasks).filter((n) => n.includes('_load')).map((n) => [n, loadRepeats]));
  const names = Object.keys(tasks);
  const times = Object.fromEntries(names.map((n) => [n, []]));
  for (let round = 0; round < iters; round++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + round) % names.length];
      for (let r = 0; r < (repeats[name] ?? 1); r++) {
        if (!noGc.has(name)) gc?.();
        const t0 = now();
        const cleanup = tasks[name]();
        times[name].push(now() - t0);
        cleanup();
      }
    }
  }
  return {
    patches: prepared.patches.length,
    finalLength: prepared.end.length,
    snapshotBytes: bytes.length,
    yjsUpdateBytes: update.length,
    loroSnapshotBytes: loroSnapshot.length,
    ...Object.fromEntries(names.map((n) => [n, summary(times[n])])),
  };
}
