// presence.test.mjs: carets and selections between two pages of the demo,
// in Debian's headless Chromium against the real relay: each page draws
// the other's caret, which moves as the other types and as text is
// inserted before it, wraps with the text, shows a selection, and goes
// away when the other page closes; the list of who is in the document
// follows. Screenshots go to target/browser-artifacts/.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { artifactPath, buildRelay, converged, docName, launchBrowser, openDemo, startRelay, waitFor } from './harness.mjs';

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

const replicaOf = (page) => page.evaluate(() => window.demo.editors[0].client.replicaId);

/** The other member's caret as `page` knows and draws it: resolved head, and the mark's box. */
async function caretOf(page, replica) {
  return page.evaluate((replica) => {
    const { client, textarea } = window.demo.editors[0];
    const sel = client.presence.get(replica)?.selections[0];
    const mark = document.querySelector(`.collab-caret[data-replica="${replica}"]`);
    const box = mark?.getBoundingClientRect();
    const area = textarea.getBoundingClientRect();
    return {
      head: sel?.head ?? null,
      anchor: sel?.anchor ?? null,
      label: mark?.textContent ?? null,
      x: box ? box.left - area.left : null,
      y: box ? box.top - area.top : null,
      inside: box ? box.left >= area.left && box.right <= area.right + 2 && box.top >= area.top && box.bottom <= area.bottom : false,
    };
  }, replica);
}

async function typeAt(page, index, text) {
  await page.locator('textarea').focus();
  await page.evaluate((i) => window.demo.editors[0].textarea.setSelectionRange(i, i), index);
  await page.keyboard.type(text);
}

const people = (page) => page.evaluate(() => [...document.querySelectorAll('.people li')].map((li) => li.textContent));

describe('presence in Chromium', () => {
  test('each page sees the other caret move as it types, as text is inserted before it, and leave', async () => {
    const doc = docName('presence');
    const one = await openDemo(browser, relay.url, doc, 1);
    const two = await openDemo(browser, relay.url, doc, 1, '&window=1');
    const [idOne, idTwo] = [await replicaOf(one), await replicaOf(two)];

    await typeAt(one, 0, 'Hello world');
    await converged([one, two], 'the first line');
    await waitFor(async () => (await caretOf(two, idOne)).head === 11, "page two shows page one's caret at the end");
    const first = await caretOf(two, idOne);
    assert.equal(first.label, 'Ada');
    assert.ok(first.inside, 'drawn over the textarea');
    await waitFor(async () => (await people(two)).join() === 'Grace (you),Ada', 'page two lists both');

    // Page one types on: its caret moves right in page two.
    await one.keyboard.type(', again');
    await converged([one, two], 'typing on');
    await waitFor(async () => (await caretOf(two, idOne)).head === 18, 'the caret follows the typing');
    const moved = await caretOf(two, idOne);
    assert.ok(moved.x > first.x, `moved right: ${first.x} -> ${moved.x}`);

    // Page two types before it: page two shows it further on at once, before
    // the relay acknowledged anything; page one shows page two's caret.
    await typeAt(two, 0, '>> ');
    assert.equal((await caretOf(two, idOne)).head, 21, 'moved by a local edit before it');
    await converged([one, two], 'an insert before the caret');
    await waitFor(async () => (await caretOf(one, idTwo)).head === 3, "page one shows page two's caret");
    // The overlay draws at the next animation frame, after the head resolves.
    await waitFor(async () => (await caretOf(one, idTwo)).label !== null, "page one draws page two's caret");
    assert.equal((await caretOf(one, idTwo)).label, 'Grace');
    assert.equal((await caretOf(two, idOne)).head, 21);
    await one.screenshot({ path: artifactPath('presence-one.png') });
    await two.screenshot({ path: artifactPath('presence-two.png') });

    // A selection in page one is drawn as one in page two.
    await one.evaluate(() => window.demo.editors[0].textarea.setSelectionRange(3, 8));
    await waitFor(
      () => two.evaluate((id) => document.querySelector(`.collab-selection[data-replica="${id}"]`)?.textContent, idOne).then((t) => t === 'Hello'),
      'the selection drawn over "Hello"',
    );
    await two.screenshot({ path: artifactPath('presence-selection.png') });

    // A long line wraps in the overlay as in the textarea: the caret at its
    // end is drawn lower than the first line.
    await typeAt(one, (await one.evaluate(() => window.demo.editors[0].client.text().length)), ' ' + 'wrapping '.repeat(12));
    const end = await one.evaluate(() => window.demo.editors[0].client.text().length);
    await converged([one, two], 'a long line');
    await waitFor(async () => (await caretOf(two, idOne)).head === end, 'the caret at the end of the long line');
    const wrapped = await caretOf(two, idOne);
    const line = await two.evaluate(() => parseFloat(getComputedStyle(window.demo.editors[0].textarea).lineHeight));
    assert.ok(wrapped.y > first.y + line / 2, `on a lower line: ${first.y} -> ${wrapped.y}`);
    const textareaWraps = await two.evaluate(() => {
      const { textarea } = window.demo.editors[0];
      return textarea.scrollHeight > 2 * parseFloat(getComputedStyle(textarea).lineHeight);
    });
    assert.ok(textareaWraps, 'the textarea wraps the line too');
    await two.screenshot({ path: artifactPath('presence-wrapped.png') });

    // Page one closes: its caret and its name leave page two.
    await one.close();
    await waitFor(
      () => two.evaluate((id) => document.querySelector(`.collab-caret[data-replica="${id}"]`) === null, idOne),
      "page one's caret removed",
    );
    await waitFor(async () => (await people(two)).join() === 'Grace (you)', 'page two alone in the list');
    assert.equal(await two.evaluate(() => window.demo.editors[0].client.presence.size), 0);
    await two.screenshot({ path: artifactPath('presence-after-close.png') });
    assert.deepEqual(two.errors, []);
    await two.close();
  });
});
