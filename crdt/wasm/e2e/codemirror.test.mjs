// codemirror.test.mjs: the CodeMirror binding (collab-crdt/codemirror) on the
// relay's CodeMirror page, in Debian's headless Chromium against the real
// relay: two editors typing at once converge (with the textarea page too);
// an editor bound to a client that already has text shows it without
// sending anything; a change the client refuses is taken back; an editor
// that comes back from offline too far behind is reloaded from a snapshot
// and keeps its edits; a read-only viewer cannot type; each page draws the
// other's caret and selection where CodeMirror puts that position, moving
// as text is typed and inserted before it; an IME composition is sent
// once, committed, while remote edits wait; undo takes back only the
// editor's own text while the other types, and redo brings it back; the
// undo keys run whatever undo and redo the client has, whose step is shown
// once and never sent back.
// Screenshots go to target/browser-artifacts/.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  artifactPath,
  buildRelay,
  converged,
  docName,
  launchBrowser,
  openCodeMirror,
  openDemo,
  relayText,
  startRelay,
  waitFor,
} from './harness.mjs';

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

/** Focuses editor `i` of `page` and puts its selection at [anchor, head]. */
async function select(page, i, anchor, head = anchor) {
  await page.locator(`.editor[data-editor="${i}"] .cm-content`).focus();
  await page.evaluate(({ i, anchor, head }) => window.demo.editors[i].view.dispatch({ selection: { anchor, head } }), { i, anchor, head });
}

const textOf = (page, i = 0) => page.evaluate((i) => window.demo.editors[i].client.text(), i);
const docOf = (page, i = 0) => page.evaluate((i) => window.demo.editors[i].view.state.doc.toString(), i);
/** The lines editor `i` of `page` shows, as CodeMirror laid them out, without the carets' labels. */
const shownLines = (page, i) =>
  page.evaluate(
    (i) =>
      [...window.demo.editors[i].view.dom.querySelectorAll('.cm-line')].map((line) => {
        const copy = line.cloneNode(true);
        for (const caret of copy.querySelectorAll('.cm-collab-caret')) caret.remove();
        return copy.textContent;
      }),
    i,
  );
const replicaOf = (page, i = 0) => page.evaluate((i) => window.demo.editors[i].client.replicaId, i);

/**
 * The other member's caret as `page`'s first editor knows and draws it: its
 * resolved head, the drawn mark's label and box, and where CodeMirror
 * itself puts that head (coordsAtPos), all relative to the editor.
 */
async function caretOf(page, replica) {
  return page.evaluate((replica) => {
    const { client, view } = window.demo.editors[0];
    const sel = client.presence.get(replica)?.selections[0];
    const mark = view.dom.querySelector(`.cm-collab-caret[data-replica="${replica}"]`);
    const box = mark?.getBoundingClientRect();
    const outer = view.dom.getBoundingClientRect();
    const at = sel ? view.coordsAtPos(sel.head) : null;
    return {
      head: sel?.head ?? null,
      label: mark?.textContent ?? null,
      x: box ? box.left - outer.left : null,
      y: box ? box.top - outer.top : null,
      expectedX: at ? at.left - outer.left : null,
      expectedY: at ? at.top - outer.top : null,
    };
  }, replica);
}

describe('the CodeMirror binding in Chromium', () => {
  test('two pages typing at once converge with the relay and the textarea page', async () => {
    const doc = docName('cm-concurrent');
    const one = await openCodeMirror(browser, relay.url, doc);
    const two = await openCodeMirror(browser, relay.url, doc);
    await select(one, 0, 0);
    await one.keyboard.type('The quick brown fox.');
    await one.keyboard.press('Enter');
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
    // The editors show it line by line, as CodeMirror lays out a document.
    const lines = await shownLines(one, 1);
    assert.deepEqual(lines, ['The very very quick brown fox.', 'Alpha one two three. ']);

    // The textarea page on the same document: the same text, both ways.
    const plain = await openDemo(browser, relay.url, doc, 1);
    assert.equal(await converged([one, two, plain], 'the textarea page joins'), text);
    await plain.locator('textarea').focus();
    await plain.evaluate(() => window.demo.editors[0].textarea.setSelectionRange(0, 0));
    await plain.keyboard.type('# ');
    assert.equal(await converged([one, two, plain], 'an edit from the textarea page'), `# ${text}`);
    await one.screenshot({ path: artifactPath('codemirror-live.png') });
    assert.deepEqual([...one.errors, ...two.errors, ...plain.errors], []);
    await Promise.all([one.close(), two.close(), plain.close()]);
  });

  test('an editor bound to a client with text shows it and sends nothing', async () => {
    const doc = docName('cm-initial');
    const one = await openCodeMirror(browser, relay.url, doc, 1);
    // A "\r" is a character to the binding, as it is to the client: the
    // offsets after it must not shift.
    await one.evaluate(() => window.demo.editors[0].view.dispatch({ changes: { from: 0, insert: 'line one\r\nline two 👋' } }));
    assert.equal(await converged([one], 'the text'), 'line one\r\nline two 👋');
    // A page opened later loads the text into its editor.
    const two = await openCodeMirror(browser, relay.url, doc, 1);
    const text = await converged([one, two], 'the second page');
    assert.equal(await docOf(two), text);

    // A second view on page two's client, created with other text: the
    // client's text replaces it, and the client sends nothing.
    const result = await two.evaluate(async () => {
      const { EditorState, EditorView, collab, editors } = window.demo;
      const { client } = editors[0];
      const before = { text: client.text(), pending: client.status.pending };
      const second = new EditorView({
        parent: document.body,
        state: EditorState.create({ doc: 'something else entirely', extensions: collab(client, { presence: false }) }),
      });
      await new Promise((done) => setTimeout(done, 50));
      const after = { doc: second.state.doc.toString(), text: client.text(), pending: client.status.pending };
      second.destroy();
      return { before, after };
    });
    assert.equal(result.after.doc, result.before.text, 'the view shows the client text');
    assert.equal(result.after.text, result.before.text, 'the client text is unchanged');
    assert.equal(result.after.pending, 0, 'nothing was sent');
    assert.equal(await relayText(browser, relay.url, doc), text);
    assert.deepEqual([...one.errors, ...two.errors], []);
    await Promise.all([one.close(), two.close()]);
  });

  test('a change the client refuses (half an emoji) is taken back in the editor and reported', async () => {
    const doc = docName('cm-refused');
    const page = await openCodeMirror(browser, relay.url, doc, 1);
    await select(page, 0, 0);
    await page.keyboard.type('a👋b');
    assert.equal(await converged([page], 'the text'), 'a👋b');
    // Inside the surrogate pair of 👋: CodeMirror takes it, the client cannot.
    await page.evaluate(() => window.demo.editors[0].view.dispatch({ changes: { from: 2, insert: 'x' } }));
    await waitFor(async () => (await docOf(page)) === 'a👋b', 'the editor back to the client text');
    assert.equal(await textOf(page), 'a👋b');
    assert.deepEqual(page.errors.map((e) => e.message.includes('surrogate')), [true], 'the refusal reported once');
    assert.equal(await relayText(browser, relay.url, doc), 'a👋b');
    await page.close();
  });

  test('an editor that comes back too far behind is reloaded from a snapshot and keeps its offline edits', async () => {
    // A relay that replays at most 5 operations: past that a returning
    // client gets a snapshot, and its editor the whole text as splices.
    const small = await startRelay(binary, 0, { COLLAB_MAX_REPLAY_OPS: '5' });
    try {
      const doc = docName('cm-snapshot');
      const one = await openCodeMirror(browser, small.url, doc, 1);
      const two = await openCodeMirror(browser, small.url, doc, 1);
      await select(one, 0, 0);
      await one.keyboard.type('shared. ');
      await converged([one, two], 'the seed text');
      await one.evaluate(() => {
        window.origins = [];
        window.demo.editors[0].client.on('change', (e) => window.origins.push(e.origin));
      });
      await one.locator('button.toggle').click();
      await waitFor(() => one.evaluate(() => window.demo.editors[0].client.state === 'offline'), 'page one offline');
      await select(one, 0, 8);
      await one.keyboard.type('offline');
      await select(two, 0, 0);
      await two.keyboard.type('Typed while the other was away. ');
      await one.locator('button.toggle').click();
      const text = await converged([one, two], 'after the snapshot');
      assert.equal(text, 'Typed while the other was away. shared. offline');
      assert.ok((await one.evaluate(() => window.origins)).includes('snapshot'), 'page one was reloaded from a snapshot');
      assert.deepEqual(await shownLines(one, 0), [text]);
      assert.equal(await relayText(browser, small.url, doc), text);
      assert.deepEqual([...one.errors, ...two.errors], []);
      await Promise.all([one.close(), two.close()]);
    } finally {
      await small.stop();
    }
  });

  test('each page draws the other caret and selection where CodeMirror puts them, moving and leaving', async () => {
    const doc = docName('cm-presence');
    const one = await openCodeMirror(browser, relay.url, doc, 1);
    const two = await openCodeMirror(browser, relay.url, doc, 1, '&window=1');
    const [idOne, idTwo] = [await replicaOf(one), await replicaOf(two)];

    await select(one, 0, 0);
    await one.keyboard.type('Hello world');
    await converged([one, two], 'the first line');
    await waitFor(async () => (await caretOf(two, idOne)).head === 11, "page two shows page one's caret at the end");
    const first = await caretOf(two, idOne);
    assert.equal(first.label, 'Ada');
    assert.ok(Math.abs(first.x - first.expectedX) <= 3, `drawn at position 11: ${first.x} vs ${first.expectedX}`);
    await waitFor(async () => (await two.evaluate(() => [...document.querySelectorAll('.people li')].map((li) => li.textContent))).join() === 'Grace (you),Ada', 'page two lists both');

    await one.keyboard.type(', again');
    await waitFor(async () => (await caretOf(two, idOne)).head === 18, 'the caret follows the typing');
    const moved = await caretOf(two, idOne);
    assert.ok(moved.x > first.x, `moved right: ${first.x} -> ${moved.x}`);
    assert.ok(Math.abs(moved.x - moved.expectedX) <= 3, `drawn at position 18: ${moved.x} vs ${moved.expectedX}`);

    // Page two types before it: at once, before any acknowledgement, page
    // two draws page one's caret further on; page one shows page two's.
    await select(two, 0, 0);
    await two.keyboard.type('>> ');
    const shifted = await caretOf(two, idOne);
    assert.equal(shifted.head, 21, 'moved by a local edit before it');
    assert.ok(Math.abs(shifted.x - shifted.expectedX) <= 3, `drawn at position 21: ${shifted.x} vs ${shifted.expectedX}`);
    await converged([one, two], 'an insert before the caret');
    await waitFor(async () => (await caretOf(one, idTwo)).head === 3, "page one shows page two's caret");
    assert.equal((await caretOf(one, idTwo)).label, 'Grace');
    await one.screenshot({ path: artifactPath('codemirror-presence-one.png') });
    await two.screenshot({ path: artifactPath('codemirror-presence-two.png') });

    // A selection in page one is drawn as one in page two, over "Hello".
    await select(one, 0, 3, 8);
    const selected = () =>
      two.evaluate((id) => [...document.querySelectorAll(`.cm-collab-selection[data-replica="${id}"]`)].map((s) => s.textContent).join(''), idOne);
    await waitFor(async () => (await selected()) === 'Hello', 'the selection drawn over "Hello"');
    await two.screenshot({ path: artifactPath('codemirror-presence-selection.png') });

    // A second line: the caret is drawn lower.
    await select(one, 0, await one.evaluate(() => window.demo.editors[0].view.state.doc.length));
    await one.keyboard.press('Enter');
    await one.keyboard.type('next');
    await converged([one, two], 'a second line');
    const end = await one.evaluate(() => window.demo.editors[0].view.state.doc.length);
    await waitFor(async () => (await caretOf(two, idOne)).head === end, 'the caret on the second line');
    const lower = await caretOf(two, idOne);
    assert.ok(lower.y > first.y + 10, `on a lower line: ${first.y} -> ${lower.y}`);
    assert.ok(Math.abs(lower.y - lower.expectedY) <= 3, `drawn at the line's top: ${lower.y} vs ${lower.expectedY}`);

    await one.close();
    await waitFor(
      () => two.evaluate((id) => document.querySelector(`.cm-collab-caret[data-replica="${id}"]`) === null, idOne),
      "page one's caret removed",
    );
    assert.deepEqual(two.errors, []);
    await two.close();
  });

  test('a read-only viewer shows every edit and cannot type', async () => {
    const doc = docName('cm-viewer');
    const page = await openCodeMirror(browser, relay.url, doc, 2, '&roles=write,read');
    await waitFor(() => page.evaluate(() => window.demo.editors[1].client.status.readOnly), 'editor B read-only');
    await waitFor(() => page.evaluate(() => window.demo.editors[1].view.state.readOnly), "editor B's state read-only");
    assert.equal(await page.evaluate(() => window.demo.editors[0].view.state.readOnly), false);
    await select(page, 0, 0);
    await page.keyboard.type('from the writer');
    await converged([page], 'the viewer has the text');
    await select(page, 1, 4);
    await page.keyboard.type('XYZ');
    await page.keyboard.press('Backspace');
    const text = await converged([page], 'the viewer shows the writer');
    assert.equal(text, 'from the writer');
    assert.equal(await relayText(browser, relay.url, doc), text);
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  test('an IME composition is sent once, committed; remote edits wait for it', async () => {
    const doc = docName('cm-ime');
    const one = await openCodeMirror(browser, relay.url, doc, 1);
    const two = await openCodeMirror(browser, relay.url, doc, 1);
    await select(one, 0, 0);
    await one.keyboard.type('ab');
    await converged([one, two], 'the seed text');

    await select(one, 0, 2);
    const cdp = await one.context().newCDPSession(one);
    await cdp.send('Input.imeSetComposition', { text: 'に', selectionStart: 1, selectionEnd: 1 });
    await cdp.send('Input.imeSetComposition', { text: 'にほ', selectionStart: 2, selectionEnd: 2 });
    await waitFor(async () => (await docOf(one)) === 'abにほ', 'the editor shows the composition');
    assert.equal(await one.evaluate(() => window.demo.editors[0].view.composing), true);
    assert.equal(await textOf(one), 'ab', 'nothing uncommitted is in the document');

    // A remote edit during the composition waits; nothing uncommitted reached page two.
    await select(two, 0, 0);
    await two.keyboard.type('R');
    await waitFor(async () => (await relayText(browser, relay.url, doc)) === 'Rab', 'the remote edit reaches the relay');
    await one.waitForTimeout(200);
    assert.equal(await docOf(one), 'abにほ', 'the composition was not disturbed');
    assert.equal(await textOf(two), 'Rab');

    await cdp.send('Input.insertText', { text: '日本' });
    const text = await converged([one, two], 'after the composition');
    assert.equal(text, 'Rab日本');
    assert.equal(await relayText(browser, relay.url, doc), text);
    const shown = await shownLines(two, 0);
    assert.deepEqual(shown, ['Rab日本'], 'page two shows the committed text once');
    await one.screenshot({ path: artifactPath('codemirror-ime.png') });
    await cdp.detach();
    assert.deepEqual([...one.errors, ...two.errors], []);
    await Promise.all([one.close(), two.close()]);
  });

  test('undo takes back only its own text while the other types; redo restores it', async () => {
    const doc = docName('cm-undo');
    const one = await openCodeMirror(browser, relay.url, doc, 1);
    const two = await openCodeMirror(browser, relay.url, doc, 1, '&window=1');
    await select(one, 0, 0);
    await one.keyboard.type('mine ');
    await one.evaluate(() => window.demo.editors[0].client.stopCapturing());
    await select(two, 0, 5);
    await two.keyboard.type('theirs');
    const before = await converged([one, two], 'both texts');
    assert.equal(before, 'mine theirs');

    // Page two keeps typing while page one undoes.
    const typing = two.keyboard.type(' and more', { delay: 30 });
    await one.locator('.cm-content').focus();
    await one.keyboard.press('Control+z');
    await typing;
    const undone = await converged([one, two], 'after the undo');
    assert.equal(undone, 'theirs and more');
    assert.equal(await one.evaluate(() => window.demo.editors[0].view.state.selection.main.head), 0, 'the caret where the text was');
    await one.screenshot({ path: artifactPath('codemirror-undo.png') });

    await one.locator('.cm-content').focus();
    await one.keyboard.press('Control+Shift+KeyZ');
    const redone = await converged([one, two], 'after the redo');
    assert.equal(redone, 'mine theirs and more');
    assert.equal(await relayText(browser, relay.url, doc), redone);

    // The page's buttons run the same commands (collabUndo, collabRedo),
    // and are enabled as the client can undo or redo.
    assert.equal(await one.locator('button.redo').isDisabled(), true, 'nothing to redo');
    await one.locator('button.undo').click();
    assert.equal(await converged([one, two], 'after the Undo button'), 'theirs and more');
    assert.equal(await one.locator('button.redo').isDisabled(), false, 'a step to redo');
    await one.locator('button.redo').click();
    assert.equal(await converged([one, two], 'after the Redo button'), 'mine theirs and more');
    assert.deepEqual([...one.errors, ...two.errors], []);
    await Promise.all([one.close(), two.close()]);
  });
});

describe('the CodeMirror undo keys in Chromium', () => {
  // Whatever way the client's undo reports a step, the binding must show it
  // once and never send it back. The real one sends a change event (the
  // test above); here a stand-in `undo` on one client deletes that
  // client's first word as a real edit and only returns the step (splices
  // and caret), with no event; `redo` puts it back.
  test('Mod-z and Mod-Shift-z run the client\'s undo and redo; the step is shown once and not sent back', async () => {
    const doc = docName('cm-undo-keys');
    const one = await openCodeMirror(browser, relay.url, doc, 1);
    const two = await openCodeMirror(browser, relay.url, doc, 1);
    await select(one, 0, 0);
    await one.keyboard.type('first second');
    await converged([one, two], 'the text');
    await one.evaluate(() => {
      const { client } = window.demo.editors[0];
      window.calls = [];
      client.undo = () => {
        window.calls.push('undo');
        client.delete(0, 6);
        return { splices: [{ index: 0, deleteCount: 6, insert: '' }], caret: 0 };
      };
      client.redo = () => {
        window.calls.push('redo');
        client.insert(0, 'first ');
        return { splices: [{ index: 0, deleteCount: 0, insert: 'first ' }], caret: 6 };
      };
    });
    await select(one, 0, 12);
    await one.keyboard.press('Control+z');
    assert.equal(await docOf(one), 'second', 'the step is shown');
    assert.deepEqual(await one.evaluate(() => window.demo.editors[0].view.state.selection.main.head), 0, 'the caret where it happened');
    assert.equal(await converged([one, two], 'after the undo'), 'second', 'sent once, not sent back');
    // KeyZ: with Shift held it types "Z", as a real keyboard does ("z" with
    // Shift would be read as Ctrl-z).
    await one.keyboard.press('Control+Shift+KeyZ');
    await one.keyboard.press('Control+y');
    assert.equal(await converged([one, two], 'after the redos'), 'first first second');
    assert.deepEqual(await one.evaluate(() => window.calls), ['undo', 'redo', 'redo']);
    assert.equal(await relayText(browser, relay.url, doc), 'first first second');
    assert.deepEqual([...one.errors, ...two.errors], []);
    await Promise.all([one.close(), two.close()]);
  });
});
