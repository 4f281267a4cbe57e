// codemirror-persist.test.mjs: the CodeMirror page with its document kept in
// IndexedDB (?persist=1), in Debian's headless Chromium against the real
// relay: a page loses its network, types in CodeMirror, is closed, and is
// opened again still offline: the editor starts with the stored text and
// the unsent edits; once the network is back they reach the other page
// (which typed meanwhile) and the relay, and each editor shows the text
// its client has. Screenshot: codemirror-persist-reopened.png.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { artifactPath, buildRelay, converged, docName, launchBrowser, openCodeMirror, openOffline, relayText, startRelay, storeSize, waitFor } from './harness.mjs';

let relay;
let browser;

before(async () => {
  relay = await startRelay(buildRelay());
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await relay?.stop();
});

const editor = (page) =>
  page.evaluate(() => {
    const { client, view } = window.demo.editors[0];
    return { doc: view.state.doc.toString(), text: client.text(), pending: client.status.pending, persisted: client.persisted };
  });

/** Types `text` in the page's editor at `at` (the end by default). */
async function typeAt(page, text, at = null) {
  await page.locator('.cm-content').focus();
  await page.evaluate((at) => {
    const { view } = window.demo.editors[0];
    view.dispatch({ selection: { anchor: at ?? view.state.doc.length } });
  }, at);
  await page.keyboard.type(text);
}

test('a CodeMirror page closed while offline opens again with its edits, which then reach the other page', async () => {
  const doc = docName('cm-persist');
  const net = { down: false };
  let one = await openOffline(browser, relay.url, '/codemirror.html', doc, net);
  const two = await openCodeMirror(browser, relay.url, doc, 1, '&window=1');
  try {
    await waitFor(() => one.evaluate(() => window.demo.editors[0].client.state === 'live'), 'page one live');
    assert.equal((await editor(one)).persisted, true);
    await typeAt(one, 'saved online. ');
    await converged([one, two], 'typed online');

    // The network goes: the socket is cut and every new one closed.
    net.down = true;
    await one.evaluate(() => {
      const { client } = window.demo.editors[0];
      client.goOffline();
      client.goOnline();
    });
    await waitFor(() => one.evaluate(() => window.demo.editors[0].client.state !== 'live'), 'page one is offline');
    await typeAt(one, 'typed offline 👍');
    assert.ok((await editor(one)).pending > 0, 'unsent edits');
    // Meanwhile the other page types at the start: not where page one's
    // unsent text goes, so the merged order is certain.
    await typeAt(two, '[two] ', 0);
    // The writes are asynchronous: a tab closed before they finish loses
    // the keystrokes not yet written (never sent either). `saved` says
    // when none is left; the tab is then closed as a user would, without
    // the client's close().
    await waitFor(() => one.evaluate(() => window.demo.editors[0].client.saved), 'the offline edits are in IndexedDB');
    assert.ok((await storeSize(one)).log > 0, 'written to the log as typed');
    await one.close();

    one = await openOffline(browser, relay.url, '/codemirror.html', doc, net);
    const back = await editor(one);
    assert.equal(back.doc, 'saved online. typed offline 👍', 'CodeMirror starts with the stored text');
    assert.equal(back.text, back.doc);
    assert.ok(back.pending > 0, 'the edits still wait for the relay');
    await one.screenshot({ path: artifactPath('codemirror-persist-reopened.png') });

    net.down = false;
    await one.evaluate(() => window.demo.editors[0].client.reconnectNow());
    const text = await converged([one, two], 'after the network is back', 60_000);
    assert.equal(text, '[two] saved online. typed offline 👍');
    assert.equal(await relayText(browser, relay.url, doc), text);
    assert.deepEqual([...one.errors, ...two.errors], []);
  } finally {
    await one.close();
    await two.close();
  }
});
