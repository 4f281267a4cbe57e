// codemirror.mts: compiled with tsc --strict against the installed package and
// CodeMirror in a fresh project: `collab-crdt/codemirror` resolves through
// the package's exports, and its types fit CodeMirror's own. An ES module
// (.mts) as the package is one: its types and this file's then name the same
// @codemirror/state declarations, not the CommonJS twin.

import { EditorState, type Extension, type Transaction } from "@codemirror/state";
import { EditorView } from "@codemirror/view";
import { CollabClient, type Presence } from "collab-crdt";
import { collab, collabRedo, collabUndo, remoteChange, sendChanges, splicesToChanges, type CollabOptions } from "collab-crdt/codemirror";

export function mount(parent: HTMLElement): EditorView {
  const client = new CollabClient({ url: "http://localhost:8000", docId: "notes" });
  const options: CollabOptions = {
    presence: true,
    undo: true,
    color: (p: Presence) => (typeof p.data?.color === "string" ? p.data.color : "#888"),
    name: (p: Presence) => `#${p.replicaId}`,
  };
  const extension: Extension = collab(client, options);
  const view = new EditorView({
    parent,
    state: EditorState.create({ doc: client.text(), extensions: [extension, collab(client)] }),
    dispatchTransactions(trs: readonly Transaction[], v: EditorView) {
      const fromOthers: boolean = trs.some((tr) => tr.annotation(remoteChange) === true);
      if (fromOthers) console.log("remote");
      v.update(trs);
    },
  });
  const changes = splicesToChanges(view.state, [{ index: 0, deleteCount: 0, insert: "x" }]);
  sendChanges(client, changes);
  const undone: boolean = collabUndo(view) || collabRedo(view);
  console.log(undone);
  return view;
}
