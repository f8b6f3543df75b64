#!/usr/bin/env node
// Browser bench (figures, not a test): Chromium driving the guest runtime over real HTTP/2.
//
//   node bench/browser-bench.mjs [--latency 1000] [--throughput 50000] [--path sw,bridge,dedicated,window,relay,raw]
//
// Starts echo + gateway from the packaged jars (full JIT: no start-time flags) and a Node.js
// http2 relay (bench/h2-relay.mjs), warms the JVMs until their JIT is quiet (through
// Playwright), then measures each path in a fresh Chromium with no debugger attached: the
// page runs the whole measurement by itself (bench.js `?auto=`) and reports through its
// console log. A DevTools connection is not free: side by side, the sw path measured through
// Playwright had a p50 0.1-0.45 ms higher and up to 30% fewer round trips/s.
//   sw         view -> service worker -> gateway -> echo -> back (the whole path)
//   bridge     view -> service worker -> view (worker-echo: the bridge alone, no network)
//   dedicated  view -> dedicated worker -> gateway -> echo -> view (the dedicated-worker mode)
//   window     GatewayLink in the window -> gateway -> echo (no worker hop)
//   relay      GatewayLink in the window -> Node relay (no worker, no Java)
//   raw        plain fetch + NDJSON codec -> Node relay (the browser's own floor)
// Figures: round-trip latency of one event at a time (p50, p99), pipelined round trips per
// second (the median of 3 passes, and their range), one-way events per second host -> view
// (source) and view -> host (sink); for raw, the two legs of a round trip; for the worker
// paths, the three hops of a round trip (window -> worker, worker -> host -> worker, worker ->
// window). Pages are cross-origin isolated (the gateway and the relay send COOP + COEP), so
// their clocks step by 5 us, not 100.

import { startHostSide, devCert, guestDir } from '../test/e2e/support/servers.mjs';
import { CHROMIUM, launchBrowser, runPlainChromium } from '../test/e2e/support/browser.mjs';
import { execFileSync } from 'node:child_process';
import { startRelay } from './h2-relay.mjs';
import { readdirSync, readFileSync } from 'node:fs';
import { CLK_TCK } from './machine-cpu.mjs';
import { listArg, numberArg } from './cli.mjs';

const sizes = { latency: numberArg('latency', 1000), warmup: numberArg('warmup', 200), throughput: numberArg('throughput', 50_000) };
const k = (/** @type {number} */ x) => (x >= 10_000 ? `${(x / 1000).toFixed(1)}k` : `${Math.round(x)}`);
const only = listArg('path');

const cert = devCert();
const [host, relay] = await Promise.all([startHostSide(), startRelay({ cert: cert.cert, key: cert.key, root: guestDir })]);
const version = chromiumVersion();
await warmHostSide();
const ALL = ['latency', 'roundTrip', 'down', 'up'];
const runs = [
  { key: 'sw', name: 'sw -> gateway -> echo', origin: host.origin, query: 'path=sw', phases: [...ALL, 'hops'] },
  { key: 'bridge', name: 'sw bridge only (worker-echo)', origin: host.origin, query: 'path=sw&echo=worker-echo', phases: ['latency', 'roundTrip'] },
  { key: 'dedicated', name: 'dedicated worker -> gateway -> echo', origin: host.origin, query: 'path=sw&worker=dedicated', phases: ['latency', 'roundTrip', 'hops'] },
  { key: 'window', name: 'window -> gateway -> echo', origin: host.origin, query: 'path=window', phases: ALL },
  { key: 'relay', name: 'window -> Node relay', origin: relay.origin, query: 'path=window', phases: ALL },
  { key: 'raw', name: 'raw fetch -> Node relay', origin: relay.origin, query: 'path=raw', phases: [...ALL, 'legs'] },
].filter((run) => !only || only.includes(run.key));
/** @type {any[]} */
const rows = [];
try {
  for (const run of runs) {
    const options = { ...sizes, phases: run.phases, passes: 3 };
    // The worker's thread (/proc's 15-character names): "ServiceWorker thread", "DedicatedWorker thread".
    const thread = run.query.includes('worker=dedicated') ? /^DedicatedWorker/ : /^ServiceWorker t/;
    /** @type {(number | undefined)[]} */
    const cpu = [];
    /** @type {number[]} */
    const warm = [];
    const url = `${run.origin}/bench/pages/bench.html?${run.query}&auto=${encodeURIComponent(JSON.stringify(options))}`;
    /** @type {ReturnType<typeof runPlainChromium> | undefined} */
    let chromium;
    const r = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${run.name}: no result in 5 minutes`)), 300_000);
      chromium = runPlainChromium(url, (kind, value) => {
        if (kind === 'EP-WARM') warm.push(Number(value));
        else if (kind === 'EP-MARK') cpu.push(threadSeconds(thread));
        else if (kind === 'EP-BENCH' || kind === 'EP-FAILED') {
          clearTimeout(timer);
          if (kind === 'EP-BENCH') resolve(value);
          else reject(new Error(`${run.name}: ${value}`));
        }
      });
      // A browser that dies ends the wait too (a page that fails reports EP-FAILED).
      void chromium.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${run.name}: Chromium exited (${code}) with no result`));
      });
    }).finally(() => chromium?.stop());
    if (!r.isolated) console.error(`${run.name}: the page is not cross-origin isolated; its clock is in 0.1 ms steps`);
    // The pipelined rate varies most from pass to pass: the median of three.
    const rates = [...r.roundTrip.passes].sort((a, b) => a - b);
    // What the worker's thread spent per round trip in the passes after the first.
    const [sw0, sw1] = cpu;
    const swUs =
      run.query.includes('path=sw') && sw0 !== undefined && sw1 !== undefined
        ? ((sw1 - sw0) / ((rates.length - 1) * sizes.throughput)) * 1e6
        : undefined;
    rows.push({ name: run.name, ...r, roundTrip: { eventsPerSec: rates[1], min: rates[0], max: rates[2] }, swUs });
    console.error(`done: ${run.name} (warm-up passes: ${warm.map((x) => k(x)).join(' ')} round trips/s)`);
  }
} finally {
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
  const browser = await launchBrowser();
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
  await browser.dispose();
  console.error(`host side warm: JIT compiler share per pass ${seen.join(' ') || '(unknown)'}`);
}

/** @returns {string} the browser's version, from `chromium --version` */
function chromiumVersion() {
  try {
    return execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).match(/[\d.]{6,}/)?.[0] ?? '?';
  } catch {
    return '?';
  }
}

/**
 * CPU seconds used so far by the JIT compiler threads of these processes (C1/C2
 * CompilerThread), from /proc; undefined where that cannot be read.
 *
 * @param {number[]} pids
 * @returns {number | undefined}
 */
function jitSeconds(pids) {
  return threadSeconds(/^C\d CompilerThre/, pids);
}

/**
 * CPU seconds used so far by the threads named like `name` (/proc's 15-character thread
 * names) of these processes, or of every Chromium process; undefined where /proc cannot be
 * read.
 *
 * @param {RegExp} name
 * @param {number[]} [pids]
 * @returns {number | undefined}
 */
function threadSeconds(name, pids) {
  try {
    const all =
      pids ??
      readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .filter((pid) => {
          try {
            return readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('chrom');
          } catch {
            return false;
          }
        })
        .map(Number);
    let ticks = 0;
    for (const pid of all) {
      let tids;
      try {
        tids = readdirSync(`/proc/${pid}/task`);
      } catch {
        continue; // gone since it was listed
      }
      for (const tid of tids) {
        let stat;
        try {
          stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        } catch {
          continue;
        }
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        if (!name.test(comm)) continue;
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
const header = ['path', 'RTT p50 ms', 'RTT p99 ms', 'round trips/s (range)', 'host->view ev/s', 'view->host ev/s'];
const table = rows.map((r) => [
  r.name,
  f1(r.latency.p50),
  f1(r.latency.p99),
  `${k(r.roundTrip.eventsPerSec)} (${k(r.roundTrip.min)}-${k(r.roundTrip.max)})`,
  r.down ? k(r.down.eventsPerSec) : '-',
  r.up ? k(r.up.eventsPerSec) : '-',
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
const line = (/** @type {string[]} */ cells) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
console.log(`Chromium ${version}, no debugger attached; RTT over ${sizes.latency} events (after ${sizes.warmup} warm-up), throughput over ${sizes.throughput} events of ~100 B`);
console.log(line(header));
console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|')}|`);
for (const row of table) console.log(line(row));
const legs = rows.find((r) => r.legs)?.legs;
if (legs) {
  console.log(
    `raw fetch -> Node relay, one event at a time: upload leg p50 ${f1(legs.upP50)} ms, download leg p50 ${f1(legs.downP50)} ms` +
      ' (Chromium holds HTTP/2 response data up to 1 ms for more to come: guest/README.md, "Browser bench")',
  );
}
for (const row of rows.filter((r) => r.hops)) {
  const h = row.hops;
  console.log(
    `${row.name}, one event at a time, p50 of each hop: window -> worker ${f1(h.toWorker)} ms, ` +
      `worker -> gateway -> echo -> worker ${f1(h.network)} ms, worker -> window ${f1(h.toView)} ms (round trip ${f1(h.total)})`,
  );
}
for (const row of rows.filter((r) => r.swUs !== undefined)) {
  console.log(`${row.name}: the worker's thread spent ${row.swUs.toFixed(1)} us per pipelined round trip`);
}
