#!/usr/bin/env node
// Browser bench (figures, not a test): Chromium driving the guest runtime over real HTTP/2.
//
//   node bench/browser-bench.mjs [--latency 1000] [--throughput 20000]
//
// Starts echo + gateway from the packaged jars (full JIT: no start-time flags) and a Node.js
// http2 relay (bench/h2-relay.mjs), then measures, each in a fresh Chromium page:
//   sw -> gateway       view -> service worker -> gateway -> echo -> back (the whole path)
//   window -> gateway   GatewayLink in the window -> gateway -> echo (no worker hop)
//   window -> relay     GatewayLink in the window -> Node relay (no worker, no Java)
//   raw -> relay        plain fetch + NDJSON codec -> Node relay (the browser's own floor)
// Figures: round-trip latency of one event at a time (p50, p99), pipelined round trips per
// second, one-way events per second host -> view (source) and view -> host (sink).

import { startHostSide, devCert, guestDir } from '../test/e2e/support/servers.mjs';
import { launchBrowser } from '../test/e2e/support/browser.mjs';
import { startRelay } from './h2-relay.mjs';

const arg = (/** @type {string} */ name, /** @type {number} */ dflt) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? dflt : Number(process.argv[at + 1]);
};
const sizes = { latency: arg('latency', 1000), warmup: arg('warmup', 200), throughput: arg('throughput', 20_000) };

const cert = devCert();
const [host, relay] = await Promise.all([startHostSide(), startRelay({ cert: cert.cert, key: cert.key, root: guestDir })]);
const browser = await launchBrowser();
const runs = [
  { name: 'sw -> gateway -> echo', origin: host.origin, path: 'sw' },
  { name: 'window -> gateway -> echo', origin: host.origin, path: 'window' },
  { name: 'window -> Node relay', origin: relay.origin, path: 'window' },
  { name: 'raw fetch -> Node relay', origin: relay.origin, path: 'raw' },
];
/** @type {any[]} */
const rows = [];
try {
  for (const run of runs) {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error(`${run.name}: ${e}`));
    await page.goto(`${run.origin}/bench/pages/bench.html?path=${run.path}`);
    await page.waitForFunction(() => /** @type {any} */ (window).bench);
    // One untimed pass first: JIT in the browser and the JVMs, connections, the worker.
    await page.evaluate((n) => /** @type {any} */ (window).bench.run(n), { latency: 200, warmup: 50, throughput: 5000 });
    const r = await page.evaluate((n) => /** @type {any} */ (window).bench.run(n), sizes);
    rows.push({ name: run.name, ...r });
    console.error(`done: ${run.name}`);
    await page.close();
  }
} finally {
  await browser.dispose();
  await Promise.all([host.stop(), relay.close()]);
}

const f1 = (/** @type {number} */ x) => x.toFixed(2);
const k = (/** @type {number} */ x) => (x >= 10_000 ? `${(x / 1000).toFixed(1)}k` : `${Math.round(x)}`);
const header = ['path', 'RTT p50 ms', 'RTT p99 ms', 'round trips/s', 'host->view ev/s', 'view->host ev/s'];
const table = rows.map((r) => [r.name, f1(r.latency.p50), f1(r.latency.p99), k(r.roundTrip.eventsPerSec), k(r.down.eventsPerSec), k(r.up.eventsPerSec)]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
const line = (/** @type {string[]} */ cells) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
console.log(`Chromium ${browser.browser()?.version() ?? ''}; RTT over ${sizes.latency} events (after ${sizes.warmup} warm-up), throughput over ${sizes.throughput} events of ~100 B`);
console.log(line(header));
console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|')}|`);
for (const row of table) console.log(line(row));
