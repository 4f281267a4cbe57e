// reconnect.js: the pieces of CollabClient's connection policy that need
// no client: the backoff's defaults and delays, replica ids, and the relay's
// WebSocket URL. client.js re-exports them.

/** The reconnect policy's defaults; see docs/browser.md, "Reconnecting". */
export const RECONNECT_DEFAULTS = Object.freeze({
  initialDelayMs: 250,
  maxDelayMs: 10_000,
  factor: 2,
  jitter: 0.5,
  connectTimeoutMs: 10_000,
  stableAfterMs: 5_000,
  resendDelayMs: 500,
});

/** A random replica id from 1 to 2^53 - 1, from the platform's CSPRNG. */
export function randomReplicaId() {
  const words = new Uint32Array(2);
  globalThis.crypto.getRandomValues(words);
  const id = (words[0] & 0x1fffff) * 0x1_0000_0000 + words[1];
  return id === 0 ? 1 : id;
}

/**
 * The wait before reconnect attempt `attempt` (0 for the first): an
 * exponential backoff, capped, of which a random part (`jitter`, 0 to 1) is
 * taken off so that clients dropped together do not come back together.
 */
export function reconnectDelay(attempt, policy = RECONNECT_DEFAULTS, random = Math.random) {
  const base = Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** attempt);
  return Math.round(base * (1 - policy.jitter * random()));
}

/** `ws://host/ws` from `http://host`, `https://host/`, `ws://host/ws`, ... */
export function relayWebSocketUrl(url) {
  const u = new URL(url, globalThis.location?.href);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/ws';
  return u.toString();
}
