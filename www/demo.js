// demo.js: the demo page. Loads the collab-crdt package from /pkg/, opens
// two CollabClients (two replicas, two WebSockets) on the document named by
// ?doc= (default "demo"), binds each to a textarea and shows its status.
// ?editors=N changes the number of editors, ?window=N the names they go by,
// and ?roles=write,read gives each editor its role (a read-only viewer
// beside a writer); ?persist=1 keeps the first editor's document in
// IndexedDB, so that a reload while offline still shows its edits. Each editor shows the others' carets (the textarea
// binding draws them) and a list of who is in the document. Tokens come
// from the relay's /demo/token, which exists only when it was started with
// --demo (docs/security.md); without it the page connects without a token,
// as an open relay expects. window.demo exposes the clients for the
// browser tests.

import { openClient, page, renderPeople, showStatus } from './common.js';

const { docId, count } = page;

async function mountEditor(pkg, index, root) {
  const { CollabClient, bindTextarea } = pkg;
  const template = document.getElementById('editor-template');
  const section = template.content.firstElementChild.cloneNode(true);
  const name = `Editor ${String.fromCharCode(65 + index)}`;
  section.querySelector('h2').textContent = name;
  section.dataset.editor = String(index);
  root.append(section);
  const textarea = section.querySelector('textarea');
  textarea.setAttribute('aria-label', name);
  const button = section.querySelector('button.toggle');
  const el = (cls) => section.querySelector(`.${cls}`);

  const { client, role, me } = await openClient(CollabClient, index);
  section.dataset.role = role;
  const binding = bindTextarea(client, textarea);
  el('replica').textContent = String(client.replicaId);
  client.on('presence', (others) => renderPeople(el('people'), me, others));
  renderPeople(el('people'), me, client.presence);

  showStatus(client, section, button);
  return { client, binding, textarea, section };
}

async function main() {
  document.getElementById('doc-id').textContent = docId;
  const link = document.getElementById('doc-link');
  link.href = `${location.origin}/?doc=${encodeURIComponent(docId)}`;
  link.textContent = link.href;
  document.getElementById('codemirror-link').href = `codemirror.html?doc=${encodeURIComponent(docId)}`;
  let pkg;
  try {
    pkg = await import('/pkg/index.js');
    await pkg.default();
  } catch (err) {
    const fatal = document.getElementById('fatal');
    fatal.hidden = false;
    fatal.textContent =
      `The browser package did not load (${err.message}). Build it with ` +
      '`bash scripts/run.sh`, which writes pkg/ before starting the relay.';
    throw err;
  }
  const root = document.getElementById('editors');
  const editors = [];
  for (let i = 0; i < count; i++) editors.push(await mountEditor(pkg, i, root));
  window.demo = { docId, editors, pkg };
  document.body.dataset.ready = 'true';
}

main();
