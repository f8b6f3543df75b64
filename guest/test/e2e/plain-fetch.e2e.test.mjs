// The simplest browser proof of the gateway: a page served by the gateway opens one link's
// upload and download with plain fetch (no runtime) and round-trips events through echo.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHostSide } from './support/servers.mjs';
import { launchBrowser } from './support/browser.mjs';

/** @type {Awaited<ReturnType<typeof startHostSide>>} */
let host;
/** @type {Awaited<ReturnType<typeof launchBrowser>>} */
let browser;
before(async () => {
  [host, browser] = await Promise.all([startHostSide({ jvm: ['-XX:TieredStopAtLevel=1'] }), launchBrowser()]);
});
after(async () => {
  await browser?.dispose();
  await host?.stop();
});

test('a page opens an upload and a download with plain fetch and gets its events echoed over h2', { timeout: 30_000 }, async () => {
  const page = await browser.newPage();
  await page.goto(`${host.origin}/test/e2e/pages/plain-fetch.html`);
  const result = await page.evaluate(() => /** @type {any} */ (window).result);
  assert.equal(result.ok, true, result.error);
  assert.equal(result.events[0].type, 'link.ready', 'the host link announces itself first');
  assert.deepEqual(
    result.events.slice(1),
    [1, 2, 3].map((n) => ({ type: 'plain.ping', id: `p${n}`, seq: n, data: { n } })),
    'every event back, in order, heartbeats consumed by the gateway',
  );
  assert.deepEqual(result.uploadAnswer, { closed: 'done' }, 'the upload is answered once its body ends');
  assert.ok(result.protocol.every((/** @type {string} */ p) => p === 'h2'), `protocols: ${result.protocol}`);
});
