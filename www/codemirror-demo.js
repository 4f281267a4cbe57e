// codemirror-demo.js: the CodeMirror demo page's script, the source of the
// bundle www/build/codemirror-demo.js (crdt/wasm/scripts/build-demo.sh; the
// page loads only the bundle, since a browser cannot resolve the npm names
// below). It opens two CollabClients on the document named by ?doc=
// (default "demo"), each bound to a CodeMirror editor with
// collab-crdt/codemirror: remote carets, collaborative undo. ?editors=N,
// ?window=N, ?roles=write,read and ?persist=1 (the first editor's document
// kept in IndexedDB) work as on the textarea page.
// window.demo exposes the clients and views for the browser tests.

import { defaultKeymap } from '@codemirror/commands';
import { EditorState } from '@codemirror/state';
import { EditorView, drawSelection, keymap, lineNumbers } from '@codemirror/view';
import init, { CollabClient } from 'collab-crdt';
import { collab, collabRedo, collabUndo } from 'collab-crdt/codemirror';
import { openClient, page, renderPeople, showStatus } from './common.js';

const { docId, count } = page;

async function mountEditor(index, root) {
  const template = document.getElementById('editor-template');
  const section = template.content.firstElementChild.cloneNode(true);
  const name = `Editor ${String.fromCharCode(65 + index)}`;
  section.querySelector('h2').textContent = name;
  section.dataset.editor = String(index);
  root.append(section);
  const el = (cls) => section.querySelector(`.${cls}`);

  // The stored text (and unsent edits) first, so that the editor starts with it.
  const { client, role, me } = await openClient(CollabClient, index);
  section.dataset.role = role;
  const view = new EditorView({
    parent: el('cm-field'),
    state: EditorState.create({
      doc: client.text(),
      extensions: [
        lineNumbers(),
        drawSelection(),
        EditorView.lineWrapping,
        EditorView.contentAttributes.of({ 'aria-label': name }),
        collab(client),
        keymap.of(defaultKeymap),
      ],
    }),
  });
  el('replica').textContent = String(client.replicaId);
  client.on('presence', (others) => renderPeople(el('people'), me, others));
  renderPeople(el('people'), me, client.presence);
  showStatus(client, section, el('toggle'));

  // The buttons do what the keys do; without collaborative undo in the
  // client they stay disabled.
  const undo = el('undo');
  const redo = el('redo');
  undo.addEventListener('click', () => {
    collabUndo(view);
    view.focus();
  });
  redo.addEventListener('click', () => {
    collabRedo(view);
    view.focus();
  });
  const refresh = () => {
    undo.disabled = !client.canUndo;
    redo.disabled = !client.canRedo;
  };
  client.on('status', refresh);
  client.on('change', refresh);
  view.dom.addEventListener('keyup', refresh);
  view.dom.addEventListener('input', refresh);
  refresh();
  return { client, view, section };
}

async function main() {
  document.getElementById('doc-id').textContent = docId;
  const link = document.getElementById('doc-link');
  link.href = `${location.origin}/codemirror.html?doc=${encodeURIComponent(docId)}`;
  document.getElementById('textarea-link').href = `/?doc=${encodeURIComponent(docId)}`;
  try {
    // The bundle holds the package's JavaScript; its .wasm is served from /pkg/.
    await init('/pkg/collab_crdt_bg.wasm');
  } catch (err) {
    const fatal = document.getElementById('fatal');
    fatal.hidden = false;
    fatal.textContent = `The browser package did not load (${err.message}). Start the relay with \`bash scripts/run.sh\`.`;
    throw err;
  }
  const root = document.getElementById('editors');
  const editors = [];
  for (let i = 0; i < count; i++) editors.push(await mountEditor(i, root));
  // The CodeMirror classes too: a test binds another view to a client.
  window.demo = { docId, editors, EditorState, EditorView, collab };
  document.body.dataset.ready = 'true';
}

main();
