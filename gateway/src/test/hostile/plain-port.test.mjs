// The plain port is decided by the port a connection arrived on, never by what the client
// claims: prior-knowledge h2c with `:scheme: https` (or a forwarded-proto header) gets the
// redirect to https or a refusal, never a guest id, a link, a page or the metrics.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { useSystem, healthyLinkVerdict, newGuest, connect, sleep } from './support/system.mjs';
import { batchLink } from './support/guest.mjs';

const sys = useSystem('plain-port');

/** One request over prior-knowledge h2c to the plain port; the status, headers and body. */
function h2c(headers, body = '') {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${sys.plainPort}`);
    session.on('error', reject);
    const bodiless = headers[':method'] === 'GET' || headers[':method'] === 'HEAD';
    const req = session.request({ ':authority': `localhost:${sys.plainPort}`, ...headers }, { endStream: bodiless });
    let text = '';
    let res = {};
    req.setEncoding('utf8');
    const timer = setTimeout(() => {
      session.destroy();
      resolve({ status: Number(res[':status'] ?? 0), headers: res, text: `${text}(the stream was still open after 3 s: taken)` });
    }, 3000);
    req.on('response', (h) => { res = h; });
    req.on('data', (d) => { text += d; });
    req.on('end', () => { clearTimeout(timer); session.close(); resolve({ status: Number(res[':status']), headers: res, text }); });
    req.on('error', (e) => { clearTimeout(timer); session.destroy(); reject(e); });
    if (!bodiless) req.end(body);
  });
}

/** A redirect to this gateway's https port, or a refusal; never the real answer. */
function redirectedOrRefused(res, path) {
  if (res.status === 301 || res.status === 308) {
    assert.equal(res.headers.location, `https://localhost:${sys.httpsPort}${path}`);
  } else {
    assert.ok(res.status >= 400 && res.status < 500 && res.status !== 0, `status ${res.status}: ${res.text.slice(0, 200)}`);
  }
  assert.doesNotMatch(res.text, /"guest"\s*:|link\.ready|<html|jvm_memory|eventpaths_/i, 'the real answer came over plain HTTP');
}

describe('h2c with :scheme https on the plain port gets the redirect, never the answer', { concurrency: true }, () => {
  test('POST /guest issues no guest id', async () => {
    const res = await h2c({ ':method': 'POST', ':scheme': 'https', ':path': '/guest' });
    redirectedOrRefused(res, '/guest');
    if (res.status === 301 || res.status === 308) assert.equal(res.status, 308, 'a POST stays a POST');
  });

  test('an upload with a valid guest id is not taken', async () => {
    const guest = await newGuest(sys);
    const res = await h2c({ ':method': 'POST', ':scheme': 'https', ':path': '/g/echo/plain/up', 'eventpaths-guest': guest }, '{"type":"p.up"}\n');
    redirectedOrRefused(res, '/g/echo/plain/up');
  });

  test('a download with a valid guest id opens no link', async () => {
    const guest = await newGuest(sys);
    const res = await h2c({ ':method': 'GET', ':scheme': 'https', ':path': '/g/echo/plain2/down?mode=batch', 'eventpaths-guest': guest });
    redirectedOrRefused(res, '/g/echo/plain2/down?mode=batch');
  });

  test('a batch for a live fallback link is not applied', async () => {
    const c = await connect(sys);
    try {
      const guest = await c.newGuest();
      const down = await batchLink(c, guest, 'plain3');
      const res = await h2c({ ':method': 'POST', ':scheme': 'https', ':path': '/g/echo/plain3/batch?n=0', 'eventpaths-guest': guest }, '{"type":"p.b"}\n');
      redirectedOrRefused(res, '/g/echo/plain3/batch?n=0');
      await sleep(300);
      assert.equal(down.events.find((e) => e.type === 'p.b'), undefined, 'the plain-port batch was applied');
    } finally {
      c.close();
    }
  });

  test('the board page is not served', async () => {
    redirectedOrRefused(await h2c({ ':method': 'GET', ':scheme': 'https', ':path': '/' }), '/');
  });

  test('the guest runtime\'s files are not served', async () => {
    redirectedOrRefused(await h2c({ ':method': 'GET', ':scheme': 'https', ':path': '/src/index.js' }), '/src/index.js');
  });

  test('/q/metrics is not served', async () => {
    redirectedOrRefused(await h2c({ ':method': 'GET', ':scheme': 'https', ':path': '/q/metrics' }), '/q/metrics');
  });

  test('an h2c request saying :scheme http is redirected too', async () => {
    const res = await h2c({ ':method': 'POST', ':scheme': 'http', ':path': '/guest' });
    assert.equal(res.status, 308, res.text);
    assert.equal(res.headers.location, `https://localhost:${sys.httpsPort}/guest`);
  });
});

describe('HTTP/1.1 on the plain port cannot claim https either', { concurrency: true }, () => {
  for (const [name, value] of [['x-forwarded-proto', 'https'], ['forwarded', 'proto=https'], ['x-forwarded-ssl', 'on']]) {
    test(`POST /guest with ${name}: ${value} issues no guest id`, async () => {
      const res = await new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: sys.plainPort, method: 'POST', path: '/guest', headers: { host: `localhost:${sys.plainPort}`, [name]: value } }, (r) => {
          let text = '';
          r.setEncoding('utf8');
          r.on('data', (d) => { text += d; });
          r.on('end', () => resolve({ status: r.statusCode, headers: r.headers, text }));
        });
        req.on('error', reject);
        req.end();
      });
      redirectedOrRefused(res, '/guest');
    });
  }
});

healthyLinkVerdict(sys);
