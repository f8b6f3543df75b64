#!/usr/bin/env node
// CPU profiles of the page's thread and the service worker's thread during pipelined round
// trips on the whole path (view -> service worker -> gateway -> echo -> back): where each
// thread's time goes, by function (self time), for finding what to make cheaper. A tool,
// not a test and not a bench: the profiler slows what it watches.
//
//   node bench/browser-profile.mjs [--events 100000] [--top 28]
//
// The service worker is profiled through the browser's DevTools connection
// (Target.attachToTarget, messages relayed with Target.sendMessageToTarget), the page through
// its own CDP session; both sample every 200 us.

import { startHostSide } from '../test/e2e/support/servers.mjs';
import { launchBrowser } from '../test/e2e/support/browser.mjs';
import { numberArg } from './cli.mjs';

const events = numberArg('events', 100_000);
const top = numberArg('top', 28);

const host = await startHostSide();
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  await page.goto(`${host.origin}/bench/pages/bench.html?path=sw`);
  await page.waitForFunction(() => /** @type {any} */ (window).bench);
  const run = () =>
    page.evaluate((n) => /** @type {any} */ (window).bench.run({ latency: 0, warmup: 0, throughput: n, phases: ['roundTrip'] }), events);
  // Warm: the JVMs' JIT and V8's (browser-bench.mjs explains why this matters).
  for (let i = 0; i < 6; i++) console.error(`warm-up pass: ${Math.round((await run()).roundTrip.eventsPerSec)} round trips/s`);

  const pageCdp = await page.context().newCDPSession(page);
  const browserCdp = await /** @type {any} */ (page.context().browser())?.newBrowserCDPSession?.();
  const cdp = browserCdp ?? pageCdp;
  const { targetInfos } = await cdp.send('Target.getTargets');
  const sw = targetInfos.find((/** @type {any} */ t) => t.type === 'service_worker');
  if (!sw) throw new Error('no service worker target');
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: sw.targetId, flatten: false });
  let id = 0;
  /** @type {Map<number, (result: any) => void>} */
  const waiting = new Map();
  cdp.on('Target.receivedMessageFromTarget', (/** @type {any} */ m) => {
    const msg = JSON.parse(m.message);
    waiting.get(msg.id)?.(msg.result);
    waiting.delete(msg.id);
  });
  const swSend = (/** @type {string} */ method, params = {}) =>
    new Promise((resolve) => {
      waiting.set(++id, resolve);
      void cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params }) });
    });

  for (const send of [swSend, (/** @type {any} */ m, /** @type {any} */ p) => pageCdp.send(m, p)]) {
    await send('Profiler.enable', {});
    await send('Profiler.setSamplingInterval', { interval: 200 });
    await send('Profiler.start', {});
  }
  console.error(`profiled pass: ${Math.round((await run()).roundTrip.eventsPerSec)} round trips/s`);
  const swProfile = /** @type {any} */ (await swSend('Profiler.stop')).profile;
  const pageProfile = (await pageCdp.send('Profiler.stop')).profile;
  print(pageProfile, 'page thread');
  print(swProfile, 'service worker thread');
} finally {
  await browser.dispose();
  await host.stop();
}

/**
 * Self time by function, largest first.
 *
 * @param {{nodes: {id: number, callFrame: {functionName: string, url: string, lineNumber: number}}[], samples: number[]}} profile
 * @param {string} label
 */
function print(profile, label) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  /** @type {Map<string, number>} */
  const self = new Map();
  for (const sample of profile.samples) {
    const frame = /** @type {any} */ (byId.get(sample)).callFrame;
    const key = `${frame.functionName || '(anonymous)'} ${frame.url.split('/').pop()}:${frame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + 1);
  }
  console.log(`== ${label}: ${profile.samples.length} samples`);
  for (const [key, n] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((n / profile.samples.length) * 100).toFixed(1).padStart(5)}% ${key}`);
  }
}
