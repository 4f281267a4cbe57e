// undo.test.mjs: collaborative undo in the demo's textarea, in Debian's
// headless Chromium against the real relay: one page types a phrase and
// undoes it with Ctrl+Z while the other page keeps typing; only the first
// page's phrase goes, on both pages, the caret returns to where it was,
// and Ctrl+Shift+Z (and Ctrl+Y) bring it back. The browser's own undo is
// never used: its history would restart at every remote change.
// Screenshots go to target/browser-artifacts/.

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

async function typeAt(page, index, text, delay = 0) {
  await page.locator('textarea').focus();
  await page.evaluate((i) => window.demo.editors[0].textarea.setSelectionRange(i, i), index);
  await page.keyboard.type(text, { delay });
}

const value = (page) => page.evaluate(() => window.demo.editors[0].textarea.value);
const caret = (page) => page.evaluate(() => [window.demo.editors[0].textarea.selectionStart, window.demo.editors[0].textarea.selectionEnd]);

describe('collaborative undo in Chromium', () => {
  test('Ctrl+Z removes only this page\'s text while the other keeps typing; Ctrl+Shift+Z restores it', async () => {
    const doc = docName('undo');
    const one = await openDemo(browser, relay.url, doc, 1);
    const two = await openDemo(browser, relay.url, doc, 1, '&window=1');

    await typeAt(two, 0, '[two: ]');
    await converged([one, two], 'the first text');
    // Page one types a phrase inside page two's text, in one burst: one step.
    await typeAt(one, 6, 'ONE WAS HERE');
    await converged([one, two], 'page one typed');
    assert.equal(await value(two), '[two: ONE WAS HERE]');

    // Page two types on at its end while page one undoes.
    const burst = 'abcdefghijklmnopqrst';
    await two.locator('textarea').focus();
    await two.evaluate(() => window.demo.editors[0].textarea.setSelectionRange(0, 0));
    // A navigation key ends page two's step, as a click would: its first
    // text and this burst are two steps, however quickly they came.
    await two.keyboard.press('Home');
    const typing = two.keyboard.type(burst, { delay: 40 });
    await waitFor(async () => (await value(one)).startsWith('abc'), 'page two\'s typing reaches page one');
    await one.locator('textarea').focus();
    await one.keyboard.press('Control+z');
    const afterUndo = await value(one);
    assert.ok(!afterUndo.includes('ONE WAS HERE'), `undone at once: ${afterUndo}`);
    assert.ok(afterUndo.endsWith('[two: ]'), `page two's text is all there: ${afterUndo}`);
    const at = afterUndo.indexOf('[two: ') + 6;
    assert.deepEqual(await caret(one), [at, at], 'the caret goes back to where the phrase was');
    await typing;
    const text = await converged([one, two], 'after the undo');
    assert.equal(text, `${burst}[two: ]`, 'every character page two typed, none of page one\'s');
    await one.screenshot({ path: artifactPath('undo-after-ctrl-z.png') });

    await one.keyboard.press('Control+Shift+z');
    const redone = `${burst}[two: ONE WAS HERE]`;
    assert.equal(await value(one), redone);
    const end = redone.indexOf('HERE') + 4;
    assert.deepEqual(await caret(one), [end, end], 'the caret after the phrase put back');
    assert.equal(await converged([one, two], 'after the redo'), redone);
    await two.screenshot({ path: artifactPath('undo-after-redo-other-page.png') });

    // Ctrl+Z then Ctrl+Y: the same undo and redo through the other keys.
    await one.keyboard.press('Control+z');
    assert.equal(await value(one), `${burst}[two: ]`);
    await one.keyboard.press('Control+y');
    assert.equal(await converged([one, two], 'after Ctrl+Y'), redone);
    // Page two's own undo takes back its burst, never page one's phrase.
    await two.locator('textarea').focus();
    await two.keyboard.press('Control+z');
    assert.equal(await converged([one, two], 'page two undid'), '[two: ONE WAS HERE]');
    assert.deepEqual([...one.errors, ...two.errors], []);
    await one.close();
    await two.close();
  });
});
