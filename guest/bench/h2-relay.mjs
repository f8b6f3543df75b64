// A Node.js HTTP/2 (TLS) relay for the browser bench: the smallest server a page can do
// paired-stream round trips against, with no Java and no worker in the path. Built-in
// modules only. It speaks the guest half of docs/PROTOCOL.md section 5 closely enough for
// the runtime's GatewayLink to use it:
//
//   POST /guest                     -> {"guest": "<random>"}
//   POST /g/{service}/{link}/up     streaming upload, paired by (guest, service, link)
//   GET  /g/{service}/{link}/down   streaming download: link.ready, then the service's events
//
// Services: echo (each upload line back on the download, bytes as they come), stamp (each
// upload event back with data.at set to this process's clock when it arrived, Unix ms: the
// bench's upload and download legs), source (?n= events of ?size= bytes, as fast as the
// download drains), sink (counts upload events; answers sink.done {count} when the upload
// ends). No batches, no resume, no limits: a
// baseline, not a gateway. Also serves guest/ files with the gateway's CSP.

import http2 from 'node:http2';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';

const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "worker-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css' };

/**
 * @param {{cert: string, key: string, root: string, port?: number}} options `root`: folder to serve
 * @returns {Promise<{origin: string, close: () => Promise<void>}>}
 */
export async function startRelay({ cert, key, root, port = 0 }) {
  /** @type {Map<string, {up?: http2.Http2ServerRequest, upRes?: http2.Http2ServerResponse, waiting: (() => void)[]}>} */
  const pairs = new Map();
  const pairOf = (/** @type {string} */ k) => {
    let p = pairs.get(k);
    if (!p) pairs.set(k, (p = { waiting: [] }));
    return p;
  };

  const server = http2.createSecureServer({ cert: await readFile(cert), key: await readFile(key) }, async (req, res) => {
    const url = new URL(req.url, 'https://relay');
    if (req.method === 'POST' && url.pathname === '/guest') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ guest: randomBytes(16).toString('base64url') }));
      return;
    }
    const m = /^\/g\/([\w-]+)\/([\w-]+)\/(up|down)$/.exec(url.pathname);
    if (!m) return serveFile(url.pathname, res);
    const [, service, link, kind] = m;
    const key = `${req.headers['eventpaths-guest']}/${service}/${link}`;
    const pair = pairOf(key);
    if (kind === 'up') {
      pair.up = req;
      pair.upRes = res;
      pair.waiting.splice(0).forEach((wake) => wake());
      req.on('close', () => pairs.delete(key));
      return; // read by the download's side, once paired
    }
    if (!pair.up) await new Promise((resolve) => pair.waiting.push(() => resolve(undefined)));
    const up = /** @type {http2.Http2ServerRequest} */ (pair.up);
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    res.write(JSON.stringify({ type: 'link.ready', data: { link, service } }) + '\n');
    const upRes = /** @type {http2.Http2ServerResponse} */ (pair.upRes);
    // The upload's answer (the page sees it once its body has ended), then, if the page is
    // still sending, RST_STREAM NO_ERROR: "done, stop sending" (RFC 9113 8.1), as the
    // gateway does when a link ends.
    const endUpload = () => {
      if (upRes.headersSent || upRes.stream.closed) return;
      upRes.writeHead(200, { 'content-type': 'application/json' });
      upRes.end('{}', () => {
        if (!upRes.stream.closed) upRes.stream.close(http2.constants.NGHTTP2_NO_ERROR);
      });
    };
    res.on('finish', endUpload);
    res.on('close', () => {
      pairs.delete(key);
      // The page went away: drop its upload too.
      if (!res.writableFinished && !up.stream.closed) up.stream.close(http2.constants.NGHTTP2_CANCEL);
    });
    if (service === 'echo') {
      // Bytes straight through, heartbeats included (the page drops them), with
      // backpressure: stop reading the upload while the download's buffer is full.
      up.on('data', (chunk) => {
        if (!res.write(chunk)) {
          up.pause();
          res.once('drain', () => up.resume());
        }
      });
      up.on('end', () => {
        endUpload();
        res.end();
      });
    } else if (service === 'stamp') {
      let rest = '';
      up.setEncoding('utf8');
      up.on('data', (/** @type {string} */ text) => {
        const at = performance.timeOrigin + performance.now();
        const lines = (rest + text).split('\n');
        rest = /** @type {string} */ (lines.pop());
        let out = '';
        for (const line of lines) {
          if (!line) continue;
          const event = JSON.parse(line);
          if (event.type !== 'link.heartbeat') event.data = { ...event.data, at };
          out += JSON.stringify(event) + '\n';
        }
        if (out) res.write(out);
      });
      up.on('end', () => {
        endUpload();
        res.end();
      });
    } else if (service === 'sink') {
      let count = 0;
      let rest = '';
      up.setEncoding('utf8');
      up.on('data', (text) => {
        const lines = (rest + text).split('\n');
        rest = /** @type {string} */ (lines.pop());
        for (const line of lines) if (line && !line.includes('"link.heartbeat"')) count++;
      });
      up.on('end', () => {
        endUpload();
        res.end(JSON.stringify({ type: 'sink.done', data: { count } }) + '\n');
      });
    } else if (service === 'source') {
      up.resume();
      const n = Number(url.searchParams.get('n') ?? 1000);
      const pad = 'x'.repeat(Number(url.searchParams.get('size') ?? 100));
      let seq = 0;
      const pump = () => {
        while (seq < n) {
          // 64 events per write: one syscall per batch, as the gateway does.
          let text = '';
          for (let i = 0; i < 64 && seq < n; i++) text += JSON.stringify({ type: 'source.item', seq: ++seq, data: { pad } }) + '\n';
          if (!res.write(text)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    } else {
      res.writeHead(404).end();
    }
  });

  /**
   * @param {string} path
   * @param {http2.Http2ServerResponse} res
   */
  async function serveFile(path, res) {
    const file = normalize(join(root, decodeURIComponent(path)));
    if (!file.startsWith(root)) return void res.writeHead(403).end();
    try {
      const body = await readFile(file);
      res.writeHead(200, {
        'content-type': TYPES[/** @type {keyof typeof TYPES} */ (extname(file))] ?? 'application/octet-stream',
        'content-security-policy': CSP,
        'cross-origin-opener-policy': 'same-origin',
        'cross-origin-embedder-policy': 'require-corp',
        'cross-origin-resource-policy': 'same-origin',
        'cache-control': 'no-cache',
      });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  }

  await new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(undefined)));
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  const sessions = new Set();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  return {
    origin: `https://127.0.0.1:${address.port}`,
    close: async () => {
      for (const s of sessions) s.destroy();
      await new Promise((resolve) => server.close(() => resolve(undefined)));
    },
  };
}
