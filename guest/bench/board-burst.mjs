#!/usr/bin/env node
// Board burst bench (figures, not a test): one tab makes many changes at once (a paste of a
// list, a script) and another browser waits for all of them. Against the whole system started
// the way the README starts it (test/e2e/support/system.mjs), two Chromium browsers on
// separate profiles, a fresh board per round.
//
//   node guest/bench/board-burst.mjs                       (200 adds, 6 rounds)
//   node guest/bench/board-burst.mjs --changes 500 --rounds 4
//
// Per round: browser A calls window.__board.addTask N times in one task; the clocks are the
// pages' own (performance.timeOrigin + now(), the machine's wall clock in both renderers):
//   - A -> all on B: until B's board holds all N (checked every animation frame);
//   - all acknowledged on A: until A's outbox is empty again (every change durable in
//     tasks-write's log and acknowledged);
//   - all on A's board: until A's own board (from tasks-read) holds all N;
//   - the machine's cores busy meanwhile (/proc/stat: both browsers, every JVM, this script).
// The first round warms the JVMs up and is left out of the median.

import { cpus } from 'node:os';
import { startSystem } from '../test/e2e/support/system.mjs';
import { launchBrowser } from '../test/e2e/support/browser.mjs';
import { eventually, openBoard, shown } from '../test/e2e/support/board.mjs';
import { machineCpu } from './machine-cpu.mjs';

const argv = process.argv.slice(2);
const opt = (/** @type {string} */ name, /** @type {number} */ dflt) => {
  const at = argv.indexOf(`--${name}`);
  const value = at === -1 ? dflt : Number(argv[at + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
  return value;
};
const N = opt('changes', 200);
const ROUNDS = Math.max(2, opt('rounds', 6));

/** @param {number[]} xs */
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const system = await startSystem();
const [alice, bob] = await Promise.all([launchBrowser(), launchBrowser()]);
/** @type {{toB: number, acked: number, onA: number, busy: number}[]} */
const rounds = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    const board = `burst-${round}-${Date.now().toString(36)}`;
    const a = await openBoard(alice, system.origin, board);
    const b = await openBoard(bob, system.origin, board);
    await a.evaluate(() => /** @type {any} */ (window).__board.addTask('warm-up'));
    await eventually(async () => (await shown(b)).length === 1, 15_000, 'the warm-up change on B');
    const watch = (/** @type {number} */ n) => {
      const w = /** @type {any} */ (window);
      const now = () => performance.timeOrigin + performance.now();
      const when = (/** @type {() => boolean} */ done) =>
        new Promise((resolve) => {
          const check = () => (done() ? resolve(now()) : requestAnimationFrame(check));
          check();
        });
      let seen = false;
      w.__burst = {
        all: when(() => w.__board.tasks().length >= n + 1),
        acked: when(() => {
          const pending = w.__board.status().pending;
          if (pending > 0) seen = true;
          return seen && pending === 0;
        }),
      };
    };
    await Promise.all([a.evaluate(watch, N), b.evaluate(watch, N)]);
    const c0 = machineCpu();
    const t0 = await a.evaluate((n) => {
      const t = performance.timeOrigin + performance.now();
      for (let i = 0; i < n; i++) /** @type {any} */ (window).__board.addTask(`task ${i}`);
      return t;
    }, N);
    const [toB, onA, acked] = await Promise.all([
      b.evaluate(() => /** @type {any} */ (window).__burst.all),
      a.evaluate(() => /** @type {any} */ (window).__burst.all),
      a.evaluate(() => /** @type {any} */ (window).__burst.acked),
    ]);
    const c1 = machineCpu();
    // Cores kept busy by everything (both browsers, every JVM, this script) during the burst.
    const busy = (cpus().length * (c1.busy - c0.busy)) / Math.max(1e-9, c1.all - c0.all);
    const r = { toB: toB - t0, acked: acked - t0, onA: onA - t0, busy };
    rounds.push(r);
    console.log(`round ${round}${round === 0 ? ' (warm-up)' : ''}: ${N} adds; A -> all on B ${r.toB.toFixed(1)} ms, `
      + `all acknowledged on A ${r.acked.toFixed(1)} ms, all on A's board ${r.onA.toFixed(1)} ms; `
      + `machine ${r.busy.toFixed(2)} of ${cpus().length} cores busy`);
    await Promise.all([a.close(), b.close()]);
  }
  const measured = rounds.slice(1);
  const fig = (/** @type {'toB' | 'acked' | 'onA'} */ k) => `${median(measured.map((r) => r[k])).toFixed(1)} ms`;
  console.log(`\nmedian of rounds 1-${ROUNDS - 1}, ${N} adds in one burst: A -> all on B ${fig('toB')}; `
    + `all acknowledged on A ${fig('acked')}; all on A's board ${fig('onA')}`);
} finally {
  await Promise.all([alice.dispose(), bob.dispose()]);
  await system.stop();
}
