// A guest played by Node's http2 client, speaking the gateway's guest protocol
// (docs/PROTOCOL.md, section 5) the way the browser runtime does: one HTTP/2 connection (to
// the origin: through the production-like topology's balancer, one gateway instance), a guest
// id from POST /guest, and each link as an upload (POST …/up, streaming body) plus a download
// (GET …/down, streaming response) on that connection.

import http2 from 'node:http2';
import { readFileSync } from 'node:fs';

/** One HTTP/2 connection to the origin. */
export class GuestConnection {
  /**
   * @param {string} origin
   * @param {string} caFile
   */
  static open(origin, caFile) {
    return new Promise((resolve, reject) => {
      const session = http2.connect(origin, { ca: readFileSync(caFile) });
      const timer = setTimeout(() => { session.destroy(); reject(new Error(`no connection to ${origin} in 10 s`)); }, 10_000);
      session.once('connect', () => { clearTimeout(timer); resolve(new GuestConnection(session)); });
      session.once('error', (e) => { clearTimeout(timer); reject(e); });
    });
  }

  /** @param {http2.ClientHttp2Session} session */
  constructor(session) {
    this.session = session;
    this.closed = new Promise((r) => session.once('close', r));
    session.on('error', () => {});
  }

  get alive() {
    return !this.session.closed && !this.session.destroyed;
  }

  close() {
    this.session.destroy();
  }

  /** POST /guest → a new guest id. */
  async newGuest() {
    const { status, body } = await this.simple({ ':method': 'POST', ':path': '/guest' }, '');
    if (status !== 200) throw new Error(`POST /guest: ${status} ${body}`);
    return JSON.parse(body).guest;
  }

  /** A request with a small body, answered with a small body. */
  simple(headers, body) {
    return new Promise((resolve, reject) => {
      const req = this.session.request(headers);
      let text = '';
      let status = 0;
      req.setEncoding('utf8');
      req.on('response', (h) => { status = Number(h[':status']); });
      req.on('data', (d) => { text += d; });
      req.on('end', () => resolve({ status, body: text }));
      req.on('error', reject);
      req.end(body);
    });
  }

  /**
   * Opens the upload half of a link. Its body stays open: `send(event)` writes one NDJSON line.
   *
   * @param {string} guest
   * @param {string} service
   * @param {string} link
   */
  upload(guest, service, link) {
    const req = this.session.request({
      ':method': 'POST',
      ':path': `/g/${service}/${link}/up`,
      'eventpaths-guest': guest,
      'content-type': 'application/x-ndjson',
    });
    const up = {
      req,
      status: /** @type {Promise<number>} */ (new Promise((resolve) => {
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('close', () => resolve(0));
      })),
      /** @param {object} event */
      send: (event) => { if (!req.destroyed && !req.writableEnded) req.write(`${JSON.stringify(event)}\n`); },
      close: () => req.close(http2.constants.NGHTTP2_CANCEL),
    };
    req.on('error', () => {});
    req.resume();
    return up;
  }

  /**
   * Opens the download half. Resolves with its status; for 200, `events` collects what comes
   * (heartbeats dropped) and `onEvent` is called for each; for a refusal, `body` is the JSON.
   *
   * @param {string} guest
   * @param {string} service
   * @param {string} link
   * @param {string} [query]
   */
  download(guest, service, link, query = '') {
    return new Promise((resolve, reject) => {
      const req = this.session.request({
        ':method': 'GET',
        ':path': `/g/${service}/${link}/down${query ? `?${query}` : ''}`,
        'eventpaths-guest': guest,
      }, { endStream: true });
      req.setEncoding('utf8');
      req.on('error', (e) => { if (!down.status) reject(e); });
      const down = {
        req,
        status: 0,
        /** @type {any} */ body: null,
        /** @type {any[]} */ events: [],
        /** @type {(e: any) => void} */ onEvent: () => {},
        ended: /** @type {Promise<void>} */ (new Promise((r) => req.on('close', () => r()))),
        close: () => req.close(http2.constants.NGHTTP2_CANCEL),
      };
      let rest = '';
      req.on('response', (h) => {
        down.status = Number(h[':status']);
        if (down.status !== 200) {
          let text = '';
          req.on('data', (d) => { text += d; });
          req.on('end', () => {
            try { down.body = JSON.parse(text); } catch { down.body = text; }
            resolve(down);
          });
          return;
        }
        resolve(down);
        req.on('data', (chunk) => {
          rest += chunk;
          let nl;
          while ((nl = rest.indexOf('\n')) >= 0) {
            const line = rest.slice(0, nl).trim();
            rest = rest.slice(nl + 1);
            if (!line) continue;
            const e = JSON.parse(line);
            if (e.type === 'link.heartbeat') continue;
            down.events.push(e);
            down.onEvent(e);
          }
        });
      });
    });
  }

  /**
   * Opens a whole link (upload, then download). Resolves when the download has answered:
   * `{ok: true, up, down}` once `link.ready` arrived, else `{ok: false, status, body, event}`.
   */
  async link(guest, service, link, query = '', readyMs = 15_000) {
    const up = this.upload(guest, service, link);
    const down = await this.download(guest, service, link, query);
    if (down.status !== 200) {
      up.close();
      return { ok: false, status: down.status, body: down.body, up, down };
    }
    const first = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve({ type: 'timeout' }), readyMs);
      const check = () => {
        const e = down.events.find((x) => x.type === 'link.ready' || x.type === 'link.error');
        if (e) { clearTimeout(timer); resolve(e); return true; }
        return false;
      };
      if (check()) return;
      down.onEvent = () => { check(); };
      down.ended.then(() => { clearTimeout(timer); resolve(down.events.find((x) => x.type === 'link.ready' || x.type === 'link.error') ?? { type: 'ended' }); });
    });
    down.onEvent = () => {};
    if (first.type !== 'link.ready') {
      up.close();
      down.close();
      return { ok: false, status: 200, event: first, up, down };
    }
    return { ok: true, up, down };
  }
}
