// The service worker stopped by the browser, with nothing lost. Chromium stops a service
// worker 30 s after its last event even while it holds streaming fetches and transferred
// streams, and the window gets no error. This runs Chromium plain (no Playwright: its
// debugger connection keeps service workers alive), and the probe page reports through the
// console log (see support/browser.mjs).
//
// Two browsers at once, each on its own profile (so each has its own service worker):
// - "starved": the page pings only every 60 s, so the worker is stopped ~30 s after the
//   connect message while the page keeps writing 10 events/s. The page must notice (its
//   writes go unanswered, it pings, a new worker instance answers), rebuild its bridge, and
//   get every event back exactly once.
// - "kept alive": the page pings every 10 s (the default is 15 s): the worker is never
//   stopped, one instance throughout.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHostSide } from './support/servers.mjs';
import { runPlainChromium } from './support/browser.mjs';
import { gatewayMetrics, metric } from './support/probe.mjs';

/** @type {Awaited<ReturnType<typeof startHostSide>>} */
let host;
before(async () => {
  host = await startHostSide({ jvm: ['-XX:TieredStopAtLevel=1'] });
});
after(async () => {
  await host?.stop();
});

/**
 * Runs the probe page in a plain Chromium until it reports its result.
 *
 * @param {Record<string, string>} query
 * @param {number} timeoutMs
 * @returns {Promise<{result: any, log: string[]}>}
 */
async function runProbe(query, timeoutMs) {
  const url = `${host.origin}/test/e2e/pages/echo-probe.html?${new URLSearchParams({ autorun: '1', ...query })}`;
  /** @type {string[]} */
  const log = [];
  /** @type {(value: any) => void} */
  let resolve = () => {};
  const result = new Promise((r) => (resolve = r));
  const browser = runPlainChromium(url, (kind, value) => {
    if (kind !== 'EP-RESULT') return void log.push(`${kind} ${JSON.stringify(value)}`);
    // The guest links the gateway holds while this page is still open.
    gatewayMetrics(host.origin).then(
      (text) => resolve({ ...(/** @type {any} */ (value)), guestLinks: metric(text, 'eventpaths_links_active', ['side="guest"']) }),
      (error) => resolve({ ...(/** @type {any} */ (value)), guestLinks: String(error) }),
    );
  });
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  try {
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no result within ${timeoutMs} ms; log:\n${log.join('\n')}`)), timeoutMs);
    });
    const exited = browser.exited.then((code) => {
      throw new Error(`chromium exited (${code}) before reporting; log:\n${log.join('\n')}`);
    });
    exited.catch(() => {}); // it exits when stopped below, after the race is decided
    return { result: await Promise.race([result, timeout, exited]), log };
  } finally {
    clearTimeout(timer);
    await browser.stop();
  }
}

test('a service worker stopped by the browser comes back and resumes: nothing lost, nothing twice', { timeout: 100_000 }, async () => {
  const common = { until: '42000', every: '100', stall: '3000' };
  const [starved, kept] = await Promise.all([
    runProbe({ ...common, tab: 'starved', ping: '60000' }, 90_000),
    // Goes on a little longer, so it is still connected when the starved one reports.
    runProbe({ ...common, tab: 'kept', ping: '10000', until: '46000' }, 90_000),
  ]);

  {
    const { result, log } = starved;
    const context = `log:\n${log.join('\n')}`;
    assert.equal(result.failed, undefined, result.failed);
    assert.deepEqual(result.duplicates, [], 'no event twice');
    assert.deepEqual(result.unexpected, [], 'nothing out of order or unknown');
    assert.deepEqual(result.missing, [], 'nothing lost');
    assert.equal(result.received, result.sent);
    assert.ok(result.sent >= 300, `kept writing through it: ${result.sent}`);
    const instances = result.instances.map((/** @type {any} */ i) => i.instance).filter(Boolean);
    assert.ok(new Set(instances).size >= 2, `the worker was started again (new realm): ${instances}\n${context}`);
    // Stopped by the browser's idle rule: echoes stop ~30 s after the last message the
    // worker got (the connect, at the first instance), not earlier and not much later.
    const connectedAt = result.instances[0].at;
    const stoppedAfter = result.longestGap.from - connectedAt;
    assert.ok(stoppedAfter >= 27_000 && stoppedAfter <= 34_000, `echoes stopped ${stoppedAfter} ms after the connect\n${context}`);
    const lost = result.errors.filter((/** @type {any} */ e) => e.reason === 'worker_lost');
    assert.equal(lost.length, 1, `the view was told, once: ${JSON.stringify(result.errors)}`);
    assert.equal(lost[0].reconnect, true);
    assert.ok(result.longestGap.ms < 12_000, `recovered within the stall check and a reconnect: ${result.longestGap.ms} ms`);
    // The stopped worker's fetches went with it, and the gateway let go of its link: what it
    // holds is this page's new link and the kept-alive page's.
    assert.equal(result.guestLinks, 2, 'the gateway holds no link of the stopped worker');
    console.log(
      `# starved: ${result.sent} events, worker stopped ${stoppedAfter} ms after its last message, ` +
        `no echoes for ${result.longestGap.ms} ms, then resumed on a new instance`,
    );
  }
  {
    const { result, log } = kept;
    assert.equal(result.failed, undefined, result.failed);
    assert.deepEqual(result.missing, []);
    assert.deepEqual(result.duplicates, []);
    assert.deepEqual(result.errors, [], `a pinged worker is not stopped; log:\n${log.join('\n')}`);
    const instances = new Set(result.instances.map((/** @type {any} */ i) => i.instance).filter(Boolean));
    assert.equal(instances.size, 1, 'one worker instance throughout');
    assert.ok(result.longestGap.ms < 3_000, `no stall: ${result.longestGap.ms} ms`);
  }
});
