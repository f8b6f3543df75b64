// The system under attack: the packaged gateway (-Xmx256m) and echo as real processes on free
// loopback ports (guest/test/e2e/support/servers.mjs starts them, with the dev certificate,
// fresh link secret and guest key), plus a host that never grants a stream (for `busy`),
// and a healthy guest link beside them for the whole file that must lose nothing and never
// wait over 1 s for an echo.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, repoRoot, startHostSide } from '../../../../../guest/test/e2e/support/servers.mjs';
import { GuestConnection } from '../../../../../guest/test/e2e/support/guest-h2.mjs';
import { HealthyLinkWorker } from './healthy.mjs';

export { GuestConnection };

/** A host service that answers nothing: it allows no stream at all (SETTINGS_MAX_CONCURRENT_STREAMS 0). */
async function startNoStreamHost() {
  const sessions = new Set();
  const server = http2.createServer({ settings: { maxConcurrentStreams: 0 } });
  server.on('stream', (s) => s.close(http2.constants.NGHTTP2_REFUSED_STREAM));
  server.on('sessionError', () => {});
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
  const port = await freePort();
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { port, close: () => new Promise((r) => { server.close(() => r()); setTimeout(r, 500).unref(); for (const s of sessions) s.destroy(); }), server, sessions };
}

/**
 * Starts everything for one test file in `before`, stops it in `after`, and adds the file's
 * last test: the healthy link's verdict. Returns a handle whose fields are set once `before` ran.
 *
 * @param {string} file the test file's name, for the log folder
 * @param {{gatewayProps?: Record<string, string>}} [options]
 */
export function useSystem(file, { gatewayProps = {} } = {}) {
  const sys = /** @type {any} */ ({});
  before(async () => {
    const noStream = await startNoStreamHost();
    const closedPort = await freePort(); // nothing listens there
    const plainPort = await freePort();
    const host = await startHostSide({
      logDir: join(repoRoot, '.data', 'hostile-logs', file.replace(/\W+/g, '-')),
      gatewayProps: {
        'quarkus.http.port': String(plainPort),
        // Short pairing waits, so the refusals that wait for them take little of the run.
        'gateway.pairing-grace': '1s',
        'gateway.pairing-timeout': '3s',
        // A route into a target that never grants a stream (the gateway cannot get a host stream).
        'eventpaths.targets.nostream.url': `http://127.0.0.1:${noStream.port}`,
        'eventpaths.targets.nostream.max-connections': '1',
        // A link waits this long for a stream before busy (10 s by default): the case waits 10 s.
        'eventpaths.targets.nostream.stream-wait': '2s',
        'gateway.routes.nostream.target': 'nostream',
        // A target the guests may not reach (not in gateway.routes).
        'eventpaths.targets.internal.url': `http://127.0.0.1:${closedPort}`,
        // Section 2's refusals as the gateway meets them: a wrong secret, an absent service,
        // a target that is down.
        'eventpaths.targets.wrongsecret.url': '${eventpaths.targets.echo.url}',
        'eventpaths.targets.wrongsecret.secret': 'not-the-link-secret-of-echo-at-all',
        'gateway.routes.wrongsecret.target': 'wrongsecret',
        'gateway.routes.wrongsecret.service': 'echo',
        'gateway.routes.absent.target': 'echo',
        'gateway.routes.absent.service': 'no-such-service',
        'eventpaths.targets.down.url': `http://127.0.0.1:${closedPort}`,
        'gateway.routes.down.target': 'down',
        ...gatewayProps,
      },
    });
    const url = new URL(host.origin);
    Object.assign(sys, {
      host,
      noStream,
      origin: host.origin,
      authority: `localhost:${url.port}`,
      httpsPort: Number(url.port),
      plainPort,
      ca: host.cert.ca,
      pid: host.gateway.child.pid,
    });
    sys.healthy = await HealthyLinkWorker.start(host.origin, host.cert.ca);
  });
  after(async () => {
    sys.healthy?.stop();
    await sys.host?.stop();
    await sys.noStream?.close();
  });
  return sys;
}

/** The last test of a file: the healthy link beside the attacks lost nothing and was never slow. */
export function healthyLinkVerdict(sys) {
  test('the healthy link beside the attacks echoed every event, in order, each within 1 s', async (t) => {
    const report = await sys.healthy.finish();
    t.diagnostic(`healthy link: ${report.sent} sent, ${report.received} echoed, slowest ${report.slowestMs} ms`);
    assert.ok(report.sent >= 10, `the healthy link sent only ${report.sent} events`);
    assert.deepEqual(report.problems, [], `${report.problems.length} problems (sent ${report.sent}, slowest ${report.slowestMs} ms)`);
    assert.equal(report.received, report.sent, 'every event came back');
    assert.ok(report.slowestMs <= 1000, `slowest echo ${report.slowestMs} ms`);
  });
}

/** A new TLS HTTP/2 connection to the gateway, as a guest. */
export function connect(sys) {
  return GuestConnection.open(sys.origin, sys.ca);
}

/** A fresh guest id from POST /guest. */
export async function newGuest(sys) {
  const c = await connect(sys);
  try {
    return await c.newGuest();
  } finally {
    c.close();
  }
}

/** A request with a small body; resolves with status, headers, body (JSON when it is). */
export function ask(conn, headers, body = '', { timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const bodiless = headers[':method'] === 'GET' || headers[':method'] === 'HEAD';
    const req = conn.session.request(headers, { endStream: bodiless });
    let text = '';
    let status = 0;
    let resHeaders = {};
    req.setEncoding('utf8');
    const timer = setTimeout(() => { req.close(http2.constants.NGHTTP2_CANCEL); reject(new Error(`no answer to ${headers[':method']} ${headers[':path']} in ${timeoutMs} ms`)); }, timeoutMs);
    req.on('response', (h) => { status = Number(h[':status']); resHeaders = h; });
    req.on('data', (d) => { text += d; });
    req.on('end', () => {
      clearTimeout(timer);
      let json = null;
      try { json = JSON.parse(text); } catch { /* not JSON */ }
      resolve({ status, headers: resHeaders, text, json });
    });
    req.on('error', (e) => { clearTimeout(timer); reject(e); });
    if (!bodiless) req.end(body);
  });
}

/** The gateway's heap in use after a full GC (jcmd GC.run, then GC.heap_info), in bytes. */
export function heapUsedAfterGc(pid) {
  execFileSync('jcmd', [String(pid), 'GC.run'], { stdio: 'ignore', timeout: 30_000 });
  const info = execFileSync('jcmd', [String(pid), 'GC.heap_info'], { encoding: 'utf8', timeout: 30_000 });
  const m = /heap\s+total\s+\d+K,\s+used\s+(\d+)K/.exec(info);
  if (!m) throw new Error(`no heap figure in jcmd GC.heap_info:\n${info}`);
  return Number(m[1]) * 1024;
}

/** The gateway's /q/metrics (over TLS), as text. */
export async function metrics(sys) {
  const c = await connect(sys);
  try {
    return (await ask(c, { ':method': 'GET', ':path': '/q/metrics' })).text;
  } finally {
    c.close();
  }
}

/** The sum of one metric's samples whose labels include every given label. */
export function metric(text, name, labels = {}) {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+([^\s]+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const l = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const caPem = (sys) => readFileSync(sys.ca);
