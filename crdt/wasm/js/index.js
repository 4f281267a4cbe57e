// index.js: the package's entry point. init() loads the WebAssembly module
// (in browsers by fetch, in Node.js from the package's own folder); then
// Doc and ClientSession (the Rust core, through wasm-bindgen), CollabClient
// (the reconnecting WebSocket client) and bindTextarea are ready to use.

import initWasm, { initSync, Doc, ClientSession } from './collab_crdt.js';
import { CollabClient } from './client.js';

export { Doc, ClientSession, initSync };
export { CollabClient };
export { PRESENCE_REFRESH_MS, RECONNECT_DEFAULTS, randomReplicaId, reconnectDelay, relayWebSocketUrl } from './client.js';
export { bindTextarea } from './textarea.js';
export { diffText, transformIndex, transformSelection, applySplices } from './text.js';

let loading = null;

/**
 * Loads the WebAssembly module once; later calls return the same promise.
 * `input` is anything wasm-bindgen's loader takes (a URL, a Response, bytes,
 * a compiled WebAssembly.Module); by default the `.wasm` beside this file.
 */
export default function init(input) {
  loading ??= load(input);
  return loading;
}

async function load(input) {
  if (input !== undefined) return initWasm({ module_or_path: input });
  const url = new URL('./collab_crdt_bg.wasm', import.meta.url);
  if (url.protocol === 'file:') {
    // Node.js and other runtimes whose fetch does not read files.
    const fs = 'node:fs/promises';
    const { readFile } = await import(/* @vite-ignore */ /* webpackIgnore: true */ fs);
    return initSync({ module: await readFile(url) });
  }
  return initWasm({ module_or_path: url });
}

/** init(), then a CollabClient for `options`. */
export async function connect(options) {
  await init();
  return new CollabClient(options);
}
