// common.js: what the two demo pages share (demo.js for the textarea page,
// codemirror-demo.js for the CodeMirror one): their settings from the query,
// each editor's client with its token and presence, the status line, the
// names and colours of the editors, and the list of who is there.

const params = new URLSearchParams(location.search);
const roles = (params.get('roles') || '').split(',');
const persist = params.get('persist') === '1';
const windowIndex = Number(params.get('window')) || 0;

/** The page's document (?doc=) and how many editors it shows (?editors=, 1 to 4). */
export const page = {
  docId: params.get('doc') || 'demo',
  count: Math.max(1, Math.min(4, Number(params.get('editors') || 2))),
};

/**
 * The demo's getToken: a fresh token before every connection. A real
 * application asks its own server, which checks who the user is.
 */
export async function demoToken(docId, role) {
  const query = new URLSearchParams({ doc: docId, role });
  const response = await fetch(`/demo/token?${query}`);
  if (response.status === 404) return undefined;
  if (!response.ok) throw new Error(`/demo/token answered ${response.status}`);
  return (await response.json()).token;
}

export function describe(status) {
  switch (status.state) {
    case 'live':
      if (status.readOnly) return 'live · read-only viewer';
      return status.pending === 0 ? 'live · all edits saved' : `live · sending ${status.pending}`;
    case 'reconnecting':
      return `reconnecting in ${(status.retryInMs / 1000).toFixed(1)} s (attempt ${status.attempt})`;
    case 'offline':
      return status.error ? `offline: ${status.error.code}` : 'offline · edits kept locally';
    default:
      return status.state;
  }
}

/** Names and colours of the editors; ?window=N starts a second window's further down the list. */
export const PEOPLE = [
  { name: 'Ada', color: '#d33f49' },
  { name: 'Grace', color: '#2b7bd6' },
  { name: 'Alan', color: '#2f9e44' },
  { name: 'Edsger', color: '#7c3aed' },
];

/** Who is in the document, as seen by `client`: itself first, then the others. */
export function renderPeople(list, me, others) {
  const item = (person, cls) => {
    const li = document.createElement('li');
    li.className = cls;
    li.style.setProperty('--color', person.color ?? '#888');
    li.textContent = person.name ?? '?';
    return li;
  };
  const items = [item({ ...me, name: `${me.name} (you)` }, 'me')];
  for (const p of others.values()) {
    const li = item({ name: p.data?.name ?? `#${p.replicaId}`, color: p.data?.color }, 'other');
    li.dataset.replica = String(p.replicaId);
    items.push(li);
  }
  list.replaceChildren(...items);
}

/** Shows the client's status in the editor's section, and keeps the countdown moving. */
export function showStatus(client, section, button) {
  const el = (cls) => section.querySelector(`.${cls}`);
  const render = (status) => {
    section.dataset.state = status.state;
    el('state').textContent = status.state;
    el('seq').textContent = String(status.serverSeq);
    el('saved').textContent = String(status.savedServerSeq);
    el('pending').textContent = String(status.pending);
    el('detail').textContent = describe(status);
    button.textContent = status.state === 'offline' ? 'Go online' : 'Go offline';
  };
  client.on('status', render);
  render(client.status);
  // The countdown in "reconnecting in ..." moves on its own.
  setInterval(() => {
    if (client.state === 'reconnecting') render(client.status);
  }, 200);
  button.addEventListener('click', () => {
    if (client.state === 'offline') client.goOnline();
    else client.goOffline();
  });
}

/**
 * Editor `index`'s client, once its stored document (?persist=1, the first
 * editor only: one store per document and browser) is in: its role from
 * ?roles=, and the person it shows as (?window= shifts them, so that two
 * windows show different people), already sent as its presence.
 */
export async function openClient(CollabClient, index) {
  const role = roles[index] === 'read' ? 'read' : 'write';
  const client = new CollabClient({
    url: location.origin,
    docId: page.docId,
    getToken: () => demoToken(page.docId, role),
    persist: persist && index === 0 ? 'indexeddb' : undefined,
  });
  await client.ready;
  const me = PEOPLE[(index + windowIndex) % PEOPLE.length];
  client.setPresence({ data: me });
  return { client, role, me };
}
