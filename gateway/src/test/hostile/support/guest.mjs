// Guest-side helpers over Node's http2: an upload that keeps its body open and tells whether
// the gateway reset it, a batch POST, downloads that wait for a given event.

import http2 from 'node:http2';
import { ask, sleep } from './system.mjs';

/**
 * Opens an upload and leaves its body open. `answer` resolves with the status and JSON body
 * once the response has ended; `reset` resolves with the RST_STREAM code if the gateway
 * closes the stream while the body is still open (null if the stream closed otherwise).
 */
export function openUpload(conn, guest, service, link, { headers = {} } = {}) {
  const req = conn.session.request({
    ':method': 'POST',
    ':path': `/g/${service}/${link}/up`,
    'content-type': 'application/x-ndjson',
    ...(guest === null ? {} : { 'eventpaths-guest': guest }),
    ...headers,
  });
  req.on('error', () => {});
  req.setEncoding('utf8');
  let text = '';
  let status = 0;
  req.on('response', (h) => { status = Number(h[':status']); });
  req.on('data', (d) => { text += d; });
  const answer = new Promise((resolve) => {
    const done = () => {
      let json = null;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      resolve({ status, json, text });
    };
    req.on('end', done);
    req.on('close', done);
  });
  const reset = new Promise((resolve) => {
    // The body is never ended here, so the stream can only close by a reset (from either side).
    req.on('close', () => resolve(req.rstCode));
  });
  return {
    req,
    answer,
    reset,
    send: (line) => { if (!req.destroyed && !req.writableEnded) req.write(typeof line === 'string' ? line : `${JSON.stringify(line)}\n`); },
    close: () => { if (!req.destroyed) req.close(http2.constants.NGHTTP2_CANCEL); },
  };
}

/** Whether `p` settles within `ms`: its value, or the string 'timeout'. */
export function within(p, ms) {
  return Promise.race([p, sleep(ms).then(() => 'timeout')]);
}

/** GET …/down; resolves with status and JSON body (a refusal) or the live download. */
export function openDownload(conn, guest, service, link, query = '') {
  return conn.download(guest, service, link, query);
}

/** Waits until `down.events` has one matching `match`, up to `ms`; returns it or null. */
export async function waitFor(down, match, ms = 5000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const e = down.events.find(match);
    if (e) return e;
    if (down.req.closed) return down.events.find(match) ?? null;
    await sleep(20);
  }
  return null;
}

/** A full echo link on `conn` for `guest`: upload and download, once link.ready came. */
export async function echoLink(conn, guest, link, service = 'echo', query = '') {
  const l = await conn.link(guest, service, link, query);
  if (!l.ok) throw new Error(`link ${service}/${link} did not open: ${l.status} ${JSON.stringify(l.body ?? l.event)}`);
  return l;
}

/** POST …/batch?n=… with an NDJSON (or raw) body. */
export function postBatch(conn, guest, service, link, n, body) {
  return ask(conn, {
    ':method': 'POST',
    ':path': `/g/${service}/${link}/batch?n=${n}`,
    'eventpaths-guest': guest,
    'content-type': 'application/x-ndjson',
  }, body);
}

/** Opens a fallback link (download ?mode=batch) and waits for link.ready. */
export async function batchLink(conn, guest, link, service = 'echo', query = '') {
  const down = await conn.download(guest, service, link, `mode=batch${query ? `&${query}` : ''}`);
  if (down.status !== 200) throw new Error(`batch download: ${down.status} ${JSON.stringify(down.body)}`);
  const ready = await waitFor(down, (e) => e.type === 'link.ready' || e.type === 'link.error', 10_000);
  if (ready?.type !== 'link.ready') throw new Error(`batch link not ready: ${JSON.stringify(ready)}`);
  return down;
}

/** An NDJSON body of events. */
export const ndjson = (...events) => events.map((e) => `${JSON.stringify(e)}\n`).join('');
