// usage.ts: compiled with tsc --strict against the installed package in a
// fresh project: the package's types cover the whole public API.

import init, {
  applySplices,
  bindTextarea,
  ClientSession,
  CollabClient,
  diffText,
  Doc,
  PRESENCE_REFRESH_MS,
  type Presence,
  type ClientStatus,
  type CollabError,
  type Op,
  type SessionEvent,
  type Undone,
  type Splice,
  type VersionVector,
} from "collab-crdt";

export async function main(textarea: HTMLTextAreaElement): Promise<string> {
  await init();
  const doc = new Doc(1);
  doc.insert(0, "hello 👋");
  const version: VersionVector = doc.version();
  doc.replace(0, 5, "howdy");
  const ops: Op[] = doc.opsSince(version);
  const copy = Doc.decode(2, doc.encode());
  const applied: "integrated" | "duplicate" | "buffered" = copy.apply(ops[0]);
  copy.applyAll(ops);

  const session = new ClientSession("notes", 3);
  const hello: string = session.connect();
  const event: SessionEvent = session.receive(hello);
  if (event.type === "remote") {
    const splices: Splice[] = event.splices;
    applySplices("", splices);
  }
  session.setToken("a.jwt.token");
  session.setToken(undefined);
  const readOnly: boolean = session.readOnly;
  if (event.type === "error" && event.retryAfterMs !== null) session.resume();
  session.setClock(performance.now());
  session.setCaptureTimeout(300);
  session.stopCapturing();
  const undone: Undone | null = session.canUndo ? session.undo() : session.canRedo ? session.redo() : null;
  console.log(undone?.caret, undone?.splices.length);

  const withToken = new CollabClient({
    url: "http://localhost:8000",
    docId: "notes",
    getToken: async () => (readOnly ? undefined : "a.jwt.token"),
    connect: false,
  });
  withToken.setToken("another.jwt.token");
  const viewer: boolean = withToken.status.readOnly;
  console.log(viewer);
  withToken.close();

  const client = new CollabClient({
    url: "http://localhost:8000",
    docId: "notes",
    reconnect: { maxDelayMs: 5000 },
    undo: { captureTimeoutMs: 300 },
    now: () => Date.now(),
    persist: "indexeddb",
  });
  await client.ready;
  const kept: boolean = client.persisted;
  console.log(kept);
  const off = client.on("status", (s: ClientStatus) => console.log(s.state, s.savedServerSeq, s.pending));
  client.on("change", ({ origin, splices, caret }) => console.log(origin, splices.length, caret ?? -1));
  client.on("saved", ({ serverSeq }) => console.log(serverSeq));
  const binding = bindTextarea(client, textarea, { undo: true });
  client.insert(0, "x");
  client.delete(0, 1);
  client.replace(0, 0, "y");
  client.stopCapturing();
  const step: { caret: number } | null = client.canUndo ? client.undo() : null;
  const again: number | undefined = (client.canRedo ? client.redo() : null)?.caret;
  console.log(step?.caret, again);
  const splice: Splice = diffText("a", "ab", 2);
  try {
    client.insert(999, "z");
  } catch (e) {
    console.log((e as CollabError).code);
  }
  client.setPresence({ selections: [{ anchor: 0, head: 1 }], data: { name: "Ann", color: "#d33" } });
  client.setPresence({ data: null });
  const stopPresence = client.on("presence", (others: Map<number, Presence>) => {
    for (const p of others.values()) console.log(p.replicaId, p.sub, p.data, p.selections[0]?.head);
  });
  console.log(client.presence.size, PRESENCE_REFRESH_MS);
  stopPresence();
  binding.undo();
  binding.redo();
  binding.destroy();
  off();
  client.goOffline();
  client.goOnline();
  await client.close();
  return `${applied} ${splice.insert} ${copy.text()} ${client.state}`;
}
