// pkg.mjs: loads the built package (pkg/ at the repository root, or
// COLLAB_PKG) for the Node.js tests, with its WebAssembly initialised.

import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const pkgDir = resolve(process.env.COLLAB_PKG ?? join(root, 'pkg'));

export async function pkg() {
  if (!existsSync(join(pkgDir, 'index.js'))) {
    throw new Error(`${pkgDir} is not built: run bash crdt/wasm/scripts/build-pkg.sh`);
  }
  const mod = await import(pathToFileURL(join(pkgDir, 'index.js')).href);
  await mod.default();
  return mod;
}
