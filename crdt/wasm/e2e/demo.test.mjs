// demo.test.mjs: the demo and the browser package end to end, in Debian's
// headless Chromium against the real relay: concurrent typing converges
// with the relay's text; an editor taken offline catches up; a relay
// restart is survived; emoji and combining characters survive; remote edits
// move the caret as they should; IME composition, undo keys and paste become
// edits; a read-only viewer beside a writer; an expired token refreshed
// through getToken without losing edits. The relay runs in demo mode, as
// scripts/run.sh runs it: pages get their tokens from /demo/token.
// Screenshots of the demo (live, reconnecting, read-only) are written to
// target/browser-artifacts/.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  artifactPath,
  buildRelay,
  converged,
  docName,
  editorStates,
  launchBrowser,
  openDemo,
  relayText,
  startRelay,
  waitFor,
} from './harness.mjs';

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

let binary;
let relay;
let browser;

before(async () => {
  binary = buildRelay();
  relay = await startRelay(binary);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await relay?.stop();
});

/** The textarea of editor `i` (0: A, 1: B) on `page`. */
function editor(page, i) {
  return page.locator(`.editor[data-editor="${i}"] textarea`);
}

/** Puts the caret of editor `i` at UTF-16 offsets [start, end]. */
async function select(page, i, start, end = start) {
  await editor(page, i).focus();
  await page.evaluate(
    ({ i, start, end }) => window.demo.editors[i].textarea.setSelectionRange(start, end),
    { i, start, end },
  );
}

async function textOf(page, i) {
  return page.evaluate((i) => window.demo.editors[i].client.text(), i);
}

describe('the demo in Chromium', () => {
  test('two pages typing at once converge with the relay', async () => {
    const doc = docName('concurrent');
    const one = await openDemo(browser, relay.url, doc);
    const two = await openDemo(browser, relay.url, doc);
    await select(one, 0, 0);
    await one.keyboard.type('The quick brown fox.\n');
    const seed = await converged([one, two], 'the seed text');
    assert.equal(seed, 'The quick brown fox.\n');

    await select(one, 0, seed.length);
    await select(two, 1, 4);
    await Promise.all([
      one.keyboard.type('Alpha one two three. ', { delay: 15 }),
      two.keyboard.type('very very ', { delay: 25 }),
    ]);
    const text = await converged([one, two], 'concurrent typing');
    assert.equal(text, 'The very very quick brown fox.\nAlpha one two three. ');
    assert.equal(await relayText(browser, relay.url, doc), text, "the relay's text");
    await one.screenshot({ path: artifactPath('demo-live.png') });
    assert.deepEqual([...one.errors, ...two.errors], []);
    await Promise.all([one.close(), two.close()]);
  });

  test('an editor taken offline keeps typing and catches up', async () => {
    const doc = docName('offline');
    const one = await openDemo(browser, relay.url, doc);
    const two = await openDemo(browser, relay.url, doc);
    await select(one, 0, 0);
    await one.keyboard.type('shared start. ');
    await converged([one, two], 'the seed text');

    await one.locator('.editor[data-editor="0"] button.toggle').click();
    await waitFor(
      () => one.evaluate(() => window.demo.editors[0].section.dataset.state === 'offline'),
      'editor A offline',
    );
    assert.equal(await one.locator('.editor[data-editor="0"] .state').textContent(), 'offline');

    await select(one, 0, 'shared start. '.length);
    await one.keyboard.type('written offline. ');
    await select(two, 1, 0);
    await two.keyboard.type('Written online. ');
    // Editor B of page one is online: it gets page two's edit, not A's.
    await waitFor(async () => (await textOf(one, 1)).startsWith('Written online. '), 'online edit reaches B');
    assert.equal(await textOf(one, 1), 'Written online. shared start. ');
    assert.equal(await textOf(one, 0), 'shared start. written offline. ');
    const pendingOffline = await one.evaluate(() => window.demo.editors[0].client.status.pending);
    assert.ok(pendingOffline > 0, 'offline edits wait to be sent');

    await one.locator('.editor[data-editor="0"] button.toggle').click();
    const text = await converged([one, two], 'catching up after going online');
    assert.equal(text, 'Written online. shared start. written offline. ');
    assert.equal(await relayText(browser, relay.url, doc), text);
    await Promise.all([one.close(), two.close()]);
  });

  test('emoji and combining characters survive', async () => {
    const doc = docName('unicode');
    const one = await openDemo(browser, relay.url, doc);
    const two = await openDemo(browser, relay.url, doc);
    const sample = 'héllo 👋🏽 e\u0301 👨\u200d👩\u200d👧 中文 𝕏';
    await select(one, 0, 0);
    await one.keyboard.insertText(sample);
    await converged([one, two], 'the sample');
    // Backspace removes the 𝕏 (two UTF-16 units) as one character.
    await select(one, 0, sample.length);
    await one.keyboard.press('Backspace');
    // A remote edit right after the emoji with its skin tone.
    await select(two, 1, 'héllo 👋🏽'.length);
    await two.keyboard.type('!');
    const text = await converged([one, two], 'unicode edits');
    assert.equal(text, 'héllo 👋🏽! e\u0301 👨\u200d👩\u200d👧 中文 ');
    assert.ok(!LONE_SURROGATE.test(text), 'no surrogate pair was split');
    assert.equal(await relayText(browser, relay.url, doc), text);
    await Promise.all([one.close(), two.close()]);
  });

  test('a remote edit before the caret moves it; one after leaves it', async () => {
    const doc = docName('caret');
    const one = await openDemo(browser, relay.url, doc);
    const two = await openDemo(browser, relay.url, doc);
    await select(one, 0, 0);
    await one.keyboard.type('hello world');
    await converged([one, two], 'the seed text');

    await select(two, 1, 11);
    await select(one, 0, 0);
    await one.keyboard.type('XX');
    await waitFor(async () => (await textOf(two, 1)) === 'XXhello world', 'remote insert arrives');
    let [, , , b] = await editorStates([one, two]);
    assert.deepEqual(b.selection, [13, 13], 'the caret moved past the remote insert');

    // Select "hello" on page two; an insert after it changes nothing, a
    // delete before it shifts it back, and it still selects "hello".
    await select(two, 1, 2, 7);
    await select(one, 0, 13);
    await one.keyboard.type('YY');
    await waitFor(async () => (await textOf(two, 1)).endsWith('YY'), 'remote append arrives');
    [, , , b] = await editorStates([one, two]);
    assert.deepEqual(b.selection, [2, 7]);
    await select(one, 0, 2);
    await one.keyboard.press('Backspace');
    await one.keyboard.press('Backspace');
    await waitFor(async () => (await textOf(two, 1)) === 'hello worldYY', 'remote delete arrives');
    [, , , b] = await editorStates([one, two]);
    assert.deepEqual(b.selection, [0, 5]);
    // Typing goes on where the user's caret is.
    await two.keyboard.press('End');
    await two.keyboard.type('!');
    const text = await converged([one, two], 'typing after the remote edits');
    assert.equal(text, 'hello worldYY!');
    await Promise.all([one.close(), two.close()]);
  });

  test('IME composition is sent once committed; remote edits wait for it', async () => {
    const doc = docName('ime');
    const one = await openDemo(browser, relay.url, doc);
    const two = await openDemo(browser, relay.url, doc);
    await select(one, 0, 0);
    await one.keyboard.type('ab');
    await converged([one, two], 'the seed text');

    await select(one, 0, 2);
    const cdp = await one.context().newCDPSession(one);
    await cdp.send('Input.imeSetComposition', { text: 'に', selectionStart: 1, selectionEnd: 1 });
    await cdp.send('Input.imeSetComposition', { text: 'にほ', selectionStart: 2, selectionEnd: 2 });
    assert.equal(await editor(one, 0).inputValue(), 'abにほ', 'the element shows the composition');
    assert.equal(await textOf(one, 0), 'ab', 'nothing uncommitted is in the document');

    // A remote edit during the composition is held back, not written under the IME.
    await select(two, 1, 0);
    await two.keyboard.type('R');
    await waitFor(async () => (await textOf(one, 1)) === 'Rab', 'the remote edit reaches editor B');
    await one.waitForTimeout(200);
    assert.equal(await editor(one, 0).inputValue(), 'abにほ', 'the composition was not disturbed');

    await cdp.send('Input.insertText', { text: '日本' });
    const text = await converged([one, two], 'after the composition');
    assert.equal(text, 'Rab日本');
    assert.equal(await relayText(browser, relay.url, doc), text);
    await cdp.detach();
    await Promise.all([one.close(), two.close()]);
  });

  test('undo keys and paste become edits', async () => {
    const doc = docName('undo');
    const one = await openDemo(browser, relay.url, doc, 1);
    const two = await openDemo(browser, relay.url, doc, 1);
    await select(one, 0, 0);
    await one.keyboard.type('keep');
    // A caret moved by the keyboard ends the undo step.
    await one.keyboard.press('ArrowLeft');
    await one.keyboard.press('ArrowRight');
    await one.keyboard.type(' undone');
    await converged([one, two], 'typed text');
    // The collaborative undo (undo.test.mjs has it beside a typing
    // collaborator): one step per burst of typing, whatever Chromium's own
    // history would have made of it.
    await one.keyboard.press('Control+z');
    let text = await converged([one, two], 'the undo');
    assert.equal(text, 'keep');
    await one.keyboard.press('Control+z');
    await one.keyboard.press('Control+z');
    assert.equal(await converged([one, two], 'more undo'), '', 'a third undo finds nothing');
    for (let i = 0; i < 3; i++) await one.keyboard.press('Control+Shift+z');
    text = await converged([one, two], 'the redo');
    assert.equal(text, 'keep undone');

    await one.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    await one.evaluate(() => navigator.clipboard.writeText('\npasted 👍 line'));
    await select(one, 0, 4);
    await one.keyboard.press('Control+v');
    text = await converged([one, two], 'the paste');
    assert.equal(text, 'keep\npasted 👍 line undone');
    assert.equal(await relayText(browser, relay.url, doc), text);
    await Promise.all([one.close(), two.close()]);
  });
});

// The relay may keep documents in memory (a restart forgets them: the pages
describe('tokens in Chromium', () => {
  test('a read-only viewer beside a writer sees every edit and cannot type', async () => {
    const doc = docName('viewer');
    const page = await openDemo(browser, relay.url, doc, 2, '&roles=write,read');
    const viewer = await page.evaluate(() => {
      const { client, textarea, section } = window.demo.editors[1];
      return { readOnly: client.status.readOnly, element: textarea.readOnly, role: section.dataset.role };
    });
    assert.deepEqual(viewer, { readOnly: true, element: true, role: 'read' });
    assert.equal(await page.evaluate(() => window.demo.editors[0].textarea.readOnly), false);
    await select(page, 0, 0);
    await page.keyboard.type('written by A. ');
    await select(page, 1, 0);
    await page.keyboard.type('typed into the viewer');
    const text = await converged([page], 'the viewer follows the writer');
    assert.equal(text, 'written by A. ');
    assert.equal(await page.evaluate(() => window.demo.editors[1].client.status.pending), 0, 'nothing to send');
    assert.equal(await relayText(browser, relay.url, doc), text);
    await page.screenshot({ path: artifactPath('demo-read-only.png') });
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('an expired token is replaced through getToken and no edit is lost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'collab-token-'));
    const secret = join(dir, 'secret');
    writeFileSync(secret, 'a-secret-for-the-browser-token-test-0123456789');
    const env = { COLLAB_AUTH_SECRET_FILE: secret };
    const own = await startRelay(binary, 0, env);
    const doc = docName('refresh');
    // Valid for two seconds: it expires while the page is connected.
    const short = execFileSync(binary, ['token', '--doc', doc, '--sub', 'browser', '--ttl', '2s'], {
      env: { ...process.env, ...env },
    })
      .toString()
      .trim();
    const page = await browser.context.newPage();
    try {
      await page.goto(`${own.url}/pkg/package.json`);
      const result = await page.evaluate(
        async ({ url, doc, short }) => {
          const pkg = await import(`${url}/pkg/index.js`);
          await pkg.default();
          const tokens = [];
          const getToken = async () => {
            if (tokens.length === 0) {
              tokens.push('short');
              return short;
            }
            const response = await fetch(`${url}/demo/token?doc=${encodeURIComponent(doc)}`);
            tokens.push('fresh');
            return (await response.json()).token;
          };
          const client = new pkg.CollabClient({ url, docId: doc, getToken });
          const until = (check) =>
            new Promise((done) => {
              const off = client.on('status', (s) => check(s) && (off(), done()));
            });
          const closes = [];
          await until((s) => s.state === 'live');
          client.insert(0, 'before expiry. ');
          await until((s) => s.pending === 0);
          // The relay closes at exp with token_expired; typing goes on.
          await until((s) => s.state !== 'live' && (closes.push(s.state), true));
          client.insert(client.length, 'typed during the refresh.');
          await until((s) => s.state === 'live' && s.pending === 0);
          const text = client.text();
          client.close();
          return { text, tokens, closes };
        },
        { url: own.url, doc, short },
      );
      assert.deepEqual(result.tokens, ['short', 'fresh']);
      assert.equal(result.text, 'before expiry. typed during the refresh.');
      assert.equal(await relayText(browser, own.url, doc), result.text);
    } finally {
      await page.close();
      await own.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// get a snapshot of an empty document and send their own edits again) or in
// a durable store (a restart keeps them). The test holds either way, and
// runs once per store; a relay without a COLLAB_STORE setting ignores it.
for (const store of ['memory', 'sqlite']) {
  describe(`a relay restart (COLLAB_STORE=${store})`, () => {
    test('pages reconnect and converge, and edits after it reach everyone', async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'collab-restart-'));
      const env = { COLLAB_STORE: store, COLLAB_DATA_DIR: dataDir };
      const own = await startRelay(binary, 0, env);
      const doc = docName('restart');
      const one = await openDemo(browser, own.url, doc);
      const two = await openDemo(browser, own.url, doc);
      let again;
      try {
        await select(one, 0, 0);
        await one.keyboard.type('before restart. ');
        await select(two, 1, 'before restart. '.length);
        await two.keyboard.type('second page. ');
        const before = await converged([one, two], 'text before the restart');

        await own.stop();
        await waitFor(
          () =>
            one.evaluate(() => window.demo.editors.every((e) => e.section.dataset.state === 'reconnecting')),
          'pages notice the relay is gone',
        );
        if (store === 'memory') await one.screenshot({ path: artifactPath('demo-reconnecting.png') });
        await select(one, 0, before.length);
        await one.keyboard.type('typed while down. ');

        // The same port and store: the pages reconnect on their own (backoff
        // with jitter) to the URL they know.
        again = await startRelay(binary, own.port, env);
        let text = await converged([one, two], 'convergence after the restart', 60_000);
        // Every edit came from these two pages, which keep their own until
        // the relay has them: whether it kept the document or lost it, all
        // of it is there again.
        assert.equal(text, `${before}typed while down. `);
        assert.equal(await relayText(browser, again.url, doc), text);

        await select(two, 1, 0);
        await two.keyboard.type('after restart. ');
        text = await converged([one, two], 'an edit after the restart');
        assert.equal(text, `after restart. ${before}typed while down. `);
        assert.equal(await relayText(browser, again.url, doc), text);
      } finally {
        await Promise.all([one.close(), two.close()]);
        await again?.stop();
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
}
