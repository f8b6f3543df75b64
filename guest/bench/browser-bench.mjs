#!/usr/bin/env node
// Browser bench (figures, not a test): Chromium driving the guest runtime over real HTTP/2.
//
//   node bench/browser-bench.mjs [--latency 1000] [--throughput 20000]
//
// Starts echo + gateway from the packaged jars (full JIT: no start-time flags) and a Node.js
// http2 relay (bench/h2-relay.mjs), warms the JVMs until their JIT is quiet, then measures,
// each in a fresh Chromium page:
//   sw -> gateway       view -> service worker -> gateway -> echo -> back (the whole path)
//   window -> gateway   GatewayLink in the window -> gateway -> echo (no worker hop)
//   window -> relay     GatewayLink in the window -> Node relay (no worker, no Java)
//   raw -> relay        plain fetch + NDJSON codec -> Node relay (the browser's own floor)
// Figures: round-trip latency of one event at a time (p50, p99), pipelined round trips per
// second, one-way events per second host -> view (source) and view -> host (sink).

import { startHostSide, devCert, guestDir } from '../test/e2e/support/servers.mjs';
import { launchBrowser } from '../test/e2e/support/browser.mjs';
import { startRelay } from './h2-relay.mjs';
import { readdirSync, readFileSync } from 'node:fs';
import { CLK_TCK } from './machine-cpu.mjs';

const arg = (/** @type {string} */ name, /** @type {number} */ dflt) => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? dflt : Number(process.argv[at + 1]);
};
const sizes = { latency: arg('latency', 1000), warmup: arg('warmup', 200), throughput: arg('throughput', 20_000) };

const cert = devCert();
const [host, relay] = await Promise.all([startHostSide(), startRelay({ cert: cert.cert, key: cert.key, root: guestDir })]);
const browser = await launchBrowser();
await warmHostSide();
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
    // Untimed passes first: the page's and the worker's JavaScript JIT (V8 keeps tiering up
    // for seconds: one short pass left the service-worker path at two thirds of its later
    // rate), connections, the worker.
    for (let pass = 0; pass < 3; pass++) {
      await page.evaluate((n) => /** @type {any} */ (window).bench.run(n), { latency: 300, warmup: 0, throughput: 30_000 });
    }
    const r = await page.evaluate((n) => /** @type {any} */ (window).bench.run(n), sizes);
    rows.push({ name: run.name, ...r });
    console.error(`done: ${run.name}`);
    await page.close();
  }
} finally {
  await browser.dispose();
  await Promise.all([host.stop(), relay.close()]);
}

/**
 * Brings the two JVMs to their steady state before anything is measured. Fresh from
 * `java -jar`, their JIT compilers kept compiling through the first ~300,000 round trips
 * (measured: the compiler threads took more CPU than the event loops, 2.5 s of a 4 s pass,
 * and the whole path ran at half its later rate), so a short warm-up measured the JIT, not
 * the system. Passes of the window -> gateway path (the cheapest way to push events through
 * the gateway and echo) run until a pass's compiler time is under 5% of its length (at most
 * 12 passes). Where /proc is missing (not Linux) it runs 6 passes.
 */
async function warmHostSide() {
  const pids = [host.echo, host.gateway].map((p) => /** @type {any} */ (p).child?.pid).filter(Boolean);
  const page = await browser.newPage();
  await page.goto(`${host.origin}/bench/pages/bench.html?path=window`);
  await page.waitForFunction(() => /** @type {any} */ (window).bench);
  const pass = { latency: 200, warmup: 0, throughput: 40_000 };
  /** @type {string[]} */
  const seen = [];
  for (let i = 1; i <= 12; i++) {
    const jit = jitSeconds(pids);
    const t = performance.now();
    await page.evaluate((n) => /** @type {any} */ (window).bench.run(n), pass);
    const wall = (performance.now() - t) / 1000;
    if (jit === undefined) {
      if (i >= 6) break;
      continue;
    }
    const used = /** @type {number} */ (jitSeconds(pids)) - jit;
    seen.push(`${((used / wall) * 100).toFixed(0)}%`);
    if (used < 0.05 * wall) break;
  }
  await page.close();
  console.error(`host side warm: JIT compiler share per pass ${seen.join(' ') || '(unknown)'}`);
}

/**
 * CPU seconds used so far by the JIT compiler threads of these processes (C1/C2
 * CompilerThread), from /proc; undefined where that cannot be read.
 *
 * @param {number[]} pids
 * @returns {number | undefined}
 */
function jitSeconds(pids) {
  try {
    let ticks = 0;
    for (const pid of pids) {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        if (!/^C\d CompilerThre/.test(comm)) continue;
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        ticks += Number(f[11]) + Number(f[12]); // utime + stime
      }
    }
    return ticks / CLK_TCK;
  } catch {
    return undefined;
  }
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
