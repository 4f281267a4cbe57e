// persist.test.mjs: offline persistence in Debian's headless Chromium with
// its real IndexedDB, against the real relay: a page whose document is kept
// in IndexedDB (the demo's ?persist=1) loses its WebSocket (the test
// closes every socket it opens, as a dead network would), types, is
// closed, and is opened again still offline: it shows the text with its
// unsent edits, as the same replica; reloading it again and again leaves
// one snapshot in the store (compacted on every load); once the socket
// gets through, the edits reach the other page, which kept typing, and the
// relay. Screenshots go to target/browser-artifacts/.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { artifactPath, buildRelay, converged, docName, launchBrowser, openDemo, openOffline, relayText, startRelay, storeSize, waitFor } from './harness.mjs';

let binary;
let browser;

before(async () => {
  binary = buildRelay();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

const editor = (page) =>
  page.evaluate(() => {
    const { client, textarea } = window.demo.editors[0];
    return { value: textarea.value, text: client.text(), pending: client.status.pending, persisted: client.persisted, replica: client.replicaId };
  });

describe('offline persistence in Chromium (IndexedDB)', () => {
  test('a page closed while offline and opened again has its edits, which then reach the other page', async () => {
    const relay = await startRelay(binary);
    const doc = docName('persist');
    const net = { down: false };
    let one = await openOffline(browser, relay.url, '/', doc, net);
    const two = await openDemo(browser, relay.url, doc, 1, '&window=1');
    try {
      await waitFor(() => one.evaluate(() => window.demo.editors[0].client.state === 'live'), 'page one live');
      const first = await editor(one);
      assert.equal(first.persisted, true);
      await one.locator('textarea').focus();
      await one.keyboard.type('saved online. ');
      await converged([one, two], 'typed online');

      // The network goes: the socket is cut and every new one closed.
      net.down = true;
      await one.evaluate(() => {
        const { client } = window.demo.editors[0];
        client.goOffline();
        client.goOnline();
      });
      await waitFor(() => one.evaluate(() => window.demo.editors[0].client.state !== 'live'), 'page one is offline');
      await one.locator('textarea').focus();
      await one.keyboard.type('typed offline 👍');
      assert.ok((await editor(one)).pending > 0, 'unsent edits');
      // A tab closed while IndexedDB still writes loses the keystrokes not
      // yet written (never sent either): wait until all are on disk.
      await waitFor(() => one.evaluate(() => window.demo.editors[0].client.saved), 'the offline edits are in IndexedDB');
      assert.ok((await storeSize(one)).log > 0, 'written to the log, not yet compacted');
      // Meanwhile the other page types at the start.
      await two.locator('textarea').focus();
      await two.evaluate(() => window.demo.editors[0].textarea.setSelectionRange(0, 0));
      await two.keyboard.type('[two] ');
      await one.close();

      // Opened again, still offline: the text and the outbox are back.
      one = await openOffline(browser, relay.url, '/', doc, net);
      let back = await editor(one);
      assert.equal(back.value, 'saved online. typed offline 👍');
      assert.equal(back.text, back.value);
      assert.equal(back.replica, first.replica, 'the same replica');
      assert.ok(back.pending > 0, 'the edits still wait for the relay');
      await one.screenshot({ path: artifactPath('persist-reopened-offline.png') });

      // Every load compacts: reloading does not grow the store.
      for (let i = 0; i < 5; i++) {
        await one.reload();
        await one.waitForSelector('body[data-ready="true"]');
        assert.deepEqual(await storeSize(one), { docs: 1, log: 0 }, `reload ${i}`);
        back = await editor(one);
        assert.equal(back.value, 'saved online. typed offline 👍');
      }

      // The network is back: the edits reach everyone, and page two's reach page one.
      net.down = false;
      await one.evaluate(() => window.demo.editors[0].client.reconnectNow());
      const text = await converged([one, two], 'after the network is back', 60_000);
      assert.equal(text, '[two] saved online. typed offline 👍');
      assert.equal(await relayText(browser, relay.url, doc), text);
      await two.screenshot({ path: artifactPath('persist-other-page-after.png') });
      assert.deepEqual([...one.errors, ...two.errors], []);
    } finally {
      await one.close();
      await two.close();
      await relay.stop();
    }
  });

  test('two tabs of one persisted document: the first owns the store, the second runs unpersisted, both converge', async () => {
    const relay = await startRelay(binary);
    const doc = docName('persist-tabs');
    const net = { down: false };
    const one = await openOffline(browser, relay.url, '/', doc, net);
    const two = await openOffline(browser, relay.url, '/', doc, net);
    try {
      await waitFor(
        async () => (await Promise.all([one, two].map((p) => p.evaluate(() => window.demo.editors[0].client.state)))).every((s) => s === 'live'),
        'both tabs live',
      );
      const [a, b] = [await editor(one), await editor(two)];
      assert.deepEqual([a.persisted, b.persisted], [true, false], 'one tab holds the Web Lock');
      assert.notEqual(a.replica, b.replica, 'never one replica in two tabs');
      await one.locator('textarea').focus();
      await one.keyboard.type('tab one. ');
      await converged([one, two], 'tab one typed');
      await two.locator('textarea').focus();
      await two.evaluate(() => window.demo.editors[0].textarea.setSelectionRange(0, 0));
      await two.keyboard.type('tab two. ');
      const text = await converged([one, two], 'both tabs');
      assert.equal(text, 'tab two. tab one. ');
      // The first tab closes: a tab opened now gets the store, with everything the first had.
      await one.close();
      const three = await openOffline(browser, relay.url, '/', doc, net);
      assert.equal((await editor(three)).persisted, true);
      assert.equal(await converged([two, three], 'the new tab'), text);
      await three.close();
    } finally {
      await two.close();
      await relay.stop();
    }
  });
});
