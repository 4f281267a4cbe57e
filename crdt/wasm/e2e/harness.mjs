// harness.mjs: what the browser tests share: building and starting the real
// relay (port 0, the port read from its "listening on" line; restartable on
// the same port), launching Debian's Chromium through playwright-core
// (never a downloaded browser), opening the demo (the textarea page or the
// CodeMirror one), reading the relay's text through a fresh client, and
// polling until a condition holds.

import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const artifacts = join(root, 'target/browser-artifacts');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Builds the relay (debug) once; returns the binary's path. */
export function buildRelay() {
  execFileSync('cargo', ['build', '--quiet', '-p', 'collab-relay', '--bin', 'collab-relay'], {
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const target = process.env.CARGO_TARGET_DIR ? resolve(root, process.env.CARGO_TARGET_DIR) : join(root, 'target');
  return join(target, 'debug/collab-relay');
}

/**
 * Starts the relay on `port` (0: any) serving www/ and pkg/; resolves once
 * it listens. `env` adds settings as COLLAB_ variables, which a relay that
 * does not know one ignores: `COLLAB_STORE`, `COLLAB_DATA_DIR` (a fresh
 * temporary folder unless given, so tests never write into the repository).
 */
export function startRelay(binary, port = 0, env = {}) {
  if (!existsSync(join(root, 'pkg/collab_crdt_bg.wasm'))) {
    throw new Error('pkg/ is not built: run bash crdt/wasm/scripts/build-pkg.sh');
  }
  const ownDataDir = env.COLLAB_DATA_DIR ? null : mkdtempSync(join(tmpdir(), 'collab-relay-'));
  const child = spawn(
    binary,
    ['--addr', `127.0.0.1:${port}`, '--www-dir', 'www', '--pkg-dir', 'pkg', '--log', 'warn'],
    {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Demo mode, as scripts/run.sh runs it: every page gets its tokens
      // from /demo/token, and only the relay's own pages may connect.
      env: {
        ...process.env,
        COLLAB_DEMO: 'true',
        ...(ownDataDir ? { COLLAB_DATA_DIR: ownDataDir } : {}),
        ...env,
      },
    },
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  return new Promise((resolvePromise, reject) => {
    let stdout = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the relay did not start within 30 s\n${stderr}`));
    }, 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the relay exited with ${code} before listening\n${stderr}`));
    });
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const match = stdout.match(/listening on (http:\/\/[\d.]+:(\d+))/);
      if (!match) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      const exited = new Promise((done) => child.once('exit', done));
      resolvePromise({
        url: match[1],
        port: Number(match[2]),
        env,
        /** SIGTERM, as an operator would: the relay flushes and exits. */
        async stop() {
          if (child.exitCode === null) child.kill('SIGTERM');
          const timeout = setTimeout(() => child.kill('SIGKILL'), 15_000);
          await exited;
          clearTimeout(timeout);
          if (ownDataDir) rmSync(ownDataDir, { recursive: true, force: true });
        },
      });
    });
  });
}

/** Debian's Chromium, headless, with a fresh profile and no background traffic. */
export async function launchBrowser() {
  const userData = mkdtempSync(join(tmpdir(), 'collab-chromium-'));
  const context = await chromium.launchPersistentContext(userData, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1100, height: 640 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(userData, { recursive: true, force: true });
    },
  };
}

/** Opens the demo on `doc` (`query` adds parameters); resolves once its clients are live. */
export async function openDemo(browser, url, doc, editors = 2, query = '') {
  return openPage(browser, `${url}/`, doc, editors, query);
}

/** Opens the CodeMirror demo page, as openDemo the textarea one. */
export async function openCodeMirror(browser, url, doc, editors = 2, query = '') {
  return openPage(browser, `${url}/codemirror.html`, doc, editors, query);
}

async function openPage(browser, address, doc, editors, query) {
  const page = await browser.context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err));
  page.errors = errors;
  await page.goto(`${address}?doc=${encodeURIComponent(doc)}&editors=${editors}${query}`);
  await page.waitForSelector('body[data-ready="true"]');
  await waitFor(() => page.evaluate(() => window.demo.editors.every((e) => e.client.state === 'live')), 'demo live');
  return page;
}

/**
 * Opens the demo page at `path` ('/' or '/codemirror.html') on `doc` with
 * one editor whose document is kept in IndexedDB; while `net.down`, every
 * WebSocket it opens is closed at once (the page itself still loads from
 * the relay). The page's errors collect in `page.errors`.
 */
export async function openOffline(browser, url, path, doc, net) {
  const page = await browser.context.newPage();
  page.errors = [];
  page.on('pageerror', (err) => page.errors.push(err));
  await page.routeWebSocket(/\/ws$/, (ws) => {
    if (net.down) ws.close();
    else ws.connectToServer();
  });
  await page.goto(`${url}${path}?doc=${encodeURIComponent(doc)}&editors=1&persist=1`);
  await page.waitForSelector('body[data-ready="true"]');
  return page;
}

/** The records of the package's IndexedDB database: snapshots and log entries. */
export function storeSize(page) {
  return page.evaluate(async () => {
    const db = await new Promise((resolve, reject) => {
      const request = indexedDB.open('collab-crdt');
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const count = (name) =>
      new Promise((resolve) => {
        const request = db.transaction(name).objectStore(name).count();
        request.onsuccess = () => resolve(request.result);
      });
    const size = { docs: await count('docs'), log: await count('log') };
    db.close();
    return size;
  });
}

/** Every editor of every page: its text, the textarea's (or CodeMirror's) value, state, unsent edits, selection. */
export async function editorStates(pages) {
  const states = [];
  for (const page of pages) {
    states.push(
      ...(await page.evaluate(() =>
        window.demo.editors.map((e) => ({
          text: e.client.text(),
          value: e.textarea ? e.textarea.value : e.view.state.doc.toString(),
          state: e.client.state,
          pending: e.client.status.pending,
          selection: e.textarea
            ? [e.textarea.selectionStart, e.textarea.selectionEnd]
            : [e.view.state.selection.main.from, e.view.state.selection.main.to],
        })),
      )),
    );
  }
  return states;
}

/** Resolves with the common text once every editor is live, has sent everything and shows the same text. */
export async function converged(pages, what = 'convergence', timeoutMs = 30_000) {
  let last;
  await waitFor(
    async () => {
      last = await editorStates(pages);
      return last.every(
        (s) => s.state === 'live' && s.pending === 0 && s.value === s.text && s.text === last[0].text,
      );
    },
    what,
    timeoutMs,
    () => JSON.stringify(last, null, 1),
  );
  return last[0].text;
}

/** The relay's text for `doc`, as a brand-new client loads it (replay or snapshot). */
export async function relayText(browser, url, doc) {
  const page = await browser.context.newPage();
  try {
    // Any page of the relay's origin, so that /pkg/ loads as same-origin modules.
    await page.goto(`${url}/pkg/package.json`);
    return await page.evaluate(
      async ({ url, doc }) => {
        const pkg = await import(`${url}/pkg/index.js`);
        await pkg.default();
        // A reader's token from the demo's endpoint, as the demo gets its own.
        const getToken = async () => {
          const response = await fetch(`${url}/demo/token?doc=${encodeURIComponent(doc)}&role=read`);
          return response.ok ? (await response.json()).token : undefined;
        };
        const client = new pkg.CollabClient({ url, docId: doc, getToken });
        await new Promise((done, fail) => {
          const timer = setTimeout(() => fail(new Error(`reader not live: ${client.state}`)), 20_000);
          const check = () => {
            if (client.state === 'live') {
              clearTimeout(timer);
              done();
            }
          };
          client.on('status', check);
          check();
        });
        const text = client.text();
        client.close();
        return text;
      },
      { url, doc },
    );
  } finally {
    await page.close();
  }
}

/** Polls `condition` until it is truthy; fails after `timeoutMs` saying `what` (and `detail()`). */
export async function waitFor(condition, what, timeoutMs = 20_000, detail = () => '') {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${detail()}`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

export function artifactPath(name) {
  mkdirSync(artifacts, { recursive: true });
  return join(artifacts, name);
}

/** A fresh document name per test, so tests never see each other's text. */
export function docName(test) {
  return `e2e-${test}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}
