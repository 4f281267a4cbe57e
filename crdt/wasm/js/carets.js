// carets.js: draws the other members' carets and selections over a
// <textarea>, with their names and colours. A textarea cannot style parts of
// its text, so an overlay is laid exactly over it: a copy of the text with
// the textarea's font, padding and wrapping, itself invisible, in which the
// selections are coloured spans and the carets zero-width marks. The copy
// wraps where the textarea wraps because it has the same width and styles,
// and it is moved by the textarea's scroll offsets, so the marks follow
// scrolling and wrapping. Positions come from client.presence: anchors the
// session resolves against the current text, so they follow every edit.

/** Colours for members whose presence data names none, picked by replica id. */
const PALETTE = ['#d33f49', '#2b7bd6', '#2f9e44', '#c2410c', '#7c3aed', '#0e9384', '#b8860b', '#db2777'];

/** The styles the copy must share with the textarea to wrap the same way. */
const COPIED = [
  'boxSizing', 'fontFamily', 'fontSize', 'fontStyle', 'fontWeight', 'fontVariant', 'fontStretch',
  'lineHeight', 'letterSpacing', 'wordSpacing', 'textTransform', 'textIndent', 'textAlign', 'tabSize',
  'direction', 'paddingTop', 'paddingRight', 'paddingBottom', 'paddingLeft', 'whiteSpace', 'overflowWrap',
  'wordBreak',
];

/** The default colour of a member. */
export function colorFor(presence) {
  const color = presence.data?.color;
  if (typeof color === 'string' && /^#[0-9a-f]{3,8}$|^[a-z]+$/i.test(color)) return color;
  return PALETTE[presence.replicaId % PALETTE.length];
}

/** The default label of a member. */
export function nameFor(presence) {
  const name = presence.data?.name;
  return typeof name === 'string' && name !== '' ? name.slice(0, 40) : `#${presence.replicaId}`;
}

/**
 * Draws `client.presence` over `textarea` until `destroy()`. `render()`
 * redraws at the next frame (the binding calls it after local edits).
 *
 * @param {import('./client.js').CollabClient} client
 * @param {HTMLTextAreaElement} textarea
 */
export function drawRemoteCarets(client, textarea, { color = colorFor, name = nameFor } = {}) {
  const doc = textarea.ownerDocument;
  const overlay = doc.createElement('div');
  overlay.className = 'collab-carets';
  overlay.setAttribute('aria-hidden', 'true');
  // Above the first line there is room for a label: clip only the sides
  // and the bottom, so that text scrolled out of view stays hidden.
  overlay.style.cssText =
    'position:absolute;pointer-events:none;overflow:visible;clip-path:inset(-1.6em 0 0 0);z-index:1';
  const copy = doc.createElement('div');
  copy.style.cssText = 'position:absolute;top:0;left:0;color:transparent;margin:0;border:0;';
  overlay.append(copy);
  textarea.after(overlay);

  let frame = null;
  let destroyed = false;

  /** Lays the overlay over the textarea and copies the styles that decide wrapping. */
  function place() {
    const style = getComputedStyle(textarea);
    overlay.style.left = `${textarea.offsetLeft}px`;
    overlay.style.top = `${textarea.offsetTop}px`;
    overlay.style.width = `${textarea.offsetWidth}px`;
    overlay.style.height = `${textarea.offsetHeight}px`;
    for (const key of COPIED) copy.style[key] = style[key];
    // A textarea always wraps (unless wrap="off"), whatever white-space says.
    copy.style.whiteSpace = textarea.wrap === 'off' ? 'pre' : 'pre-wrap';
    copy.style.boxSizing = 'border-box';
    // clientWidth: the padding box without the scrollbar, where text wraps.
    copy.style.width = `${textarea.clientWidth}px`;
    scroll(style);
  }

  function scroll(style = getComputedStyle(textarea)) {
    const x = parseFloat(style.borderLeftWidth) - textarea.scrollLeft;
    const y = parseFloat(style.borderTopWidth) - textarea.scrollTop;
    copy.style.transform = `translate(${x}px, ${y}px)`;
  }

  function draw() {
    frame = null;
    if (destroyed) return;
    place();
    const text = textarea.value;
    const marks = [];
    for (const p of client.presence.values()) {
      for (const { anchor, head } of p.selections) {
        marks.push({ p, from: Math.min(anchor, head, text.length), to: Math.min(Math.max(anchor, head), text.length), head: Math.min(head, text.length) });
      }
    }
    // Cut the text at every selection edge and caret; colour each piece
    // with the last selection covering it, put each caret at its place.
    const cuts = [...new Set([0, text.length, ...marks.flatMap((m) => [m.from, m.to, m.head])])].sort((a, b) => a - b);
    const nodes = [];
    for (let i = 0; i < cuts.length; i++) {
      const at = cuts[i];
      for (const m of marks) if (m.head === at) nodes.push(caret(m.p));
      const next = cuts[i + 1];
      if (next === undefined || next === at) continue;
      const piece = text.slice(at, next);
      const cover = marks.findLast((m) => m.from <= at && next <= m.to && m.from < m.to);
      if (!cover) {
        nodes.push(doc.createTextNode(piece));
        continue;
      }
      const span = doc.createElement('span');
      span.className = 'collab-selection';
      span.dataset.replica = String(cover.p.replicaId);
      span.style.backgroundColor = `color-mix(in srgb, ${color(cover.p)} 25%, transparent)`;
      span.textContent = piece;
      nodes.push(span);
    }
    // A trailing newline needs a character after it to give the last line a height.
    nodes.push(doc.createTextNode('\u200b'));
    copy.replaceChildren(...nodes);
  }

  function caret(p) {
    const mark = doc.createElement('span');
    mark.className = 'collab-caret';
    mark.dataset.replica = String(p.replicaId);
    mark.style.cssText = `position:relative;border-left:2px solid ${color(p)};margin:0 -1px;`;
    const label = doc.createElement('span');
    label.className = 'collab-caret-label';
    label.textContent = name(p);
    label.style.cssText =
      `position:absolute;left:-2px;bottom:100%;white-space:nowrap;font:600 11px/1.3 system-ui,sans-serif;` +
      `color:#fff;background:${color(p)};padding:0 4px;border-radius:3px 3px 3px 0;`;
    mark.append(label);
    return mark;
  }

  function render() {
    if (frame === null && !destroyed) frame = requestAnimationFrame(draw);
  }

  const onScroll = () => scroll();
  textarea.addEventListener('scroll', onScroll);
  const resize = typeof ResizeObserver === 'function' ? new ResizeObserver(render) : null;
  resize?.observe(textarea);
  const unsubscribe = [client.on('presence', render), client.on('change', render)];
  render();

  return {
    render,
    destroy() {
      if (destroyed) return;
      destroyed = true;
      if (frame !== null) cancelAnimationFrame(frame);
      textarea.removeEventListener('scroll', onScroll);
      resize?.disconnect();
      for (const off of unsubscribe) off();
      overlay.remove();
    },
  };
}
