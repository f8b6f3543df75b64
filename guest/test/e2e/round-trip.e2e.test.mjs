// Events round-trip in a real Chromium against the real gateway and echo processes.
// First the simplest proof of the gateway: a page opens one link's upload and download with
// plain fetch (no runtime). Then the runtime: view -> worker -> gateway -> echo -> worker ->
// view, with two tabs on one service worker at once, a tab on a dedicated worker, and the
// demo page; run twice: on the normal path (streaming upload, transferred streams) and with
// both fallbacks forced (batched POSTs, MessagePort pump), which must give the same results.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHostSide } from './support/servers.mjs';
import { launchBrowser } from './support/browser.mjs';
import { assertExactlyOnce, gatewayRequests, openProbe, send, waitForState } from './support/probe.mjs';

/** @type {Awaited<ReturnType<typeof startHostSide>>} */
let host;
before(async () => {
  host = await startHostSide({ jvm: ['-XX:TieredStopAtLevel=1'] });
});
after(async () => {
  await host?.stop();
});

test('a page opens an upload and a download with plain fetch and gets its events echoed over h2', { timeout: 30_000 }, async () => {
  const browser = await launchBrowser();
  try {
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
  } finally {
    await browser.dispose();
  }
});

const paths = [
  { name: 'streaming upload, transferred streams', upload: 'stream', bridge: 'transfer' },
  { name: 'fallback forced: batched POSTs, MessagePort pump', upload: 'batch', bridge: 'port' },
];

for (const path of paths) {
  describe(path.name, () => {
    /** @type {Awaited<ReturnType<typeof launchBrowser>>} */
    let browser;
    before(async () => {
      browser = await launchBrowser();
    });
    after(async () => {
      await browser?.dispose();
    });

    test('two tabs on one service worker and a tab on a dedicated worker: every event back once, in order', { timeout: 60_000 }, async () => {
      const before = await gatewayRequests(host.origin);
      const query = { upload: path.upload, bridge: path.bridge };
      const tabs = [
        await openProbe(browser, host.origin, { ...query, tab: 'a' }),
        await openProbe(browser, host.origin, { ...query, tab: 'b' }),
        await openProbe(browser, host.origin, { ...query, tab: 'c', worker: 'dedicated' }),
      ];
      const count = 400;
      await Promise.all(tabs.map((tab) => send(tab, count)));
      for (const tab of tabs) {
        const state = await waitForState(tab, (s) => s.received >= count, 30_000, 'every echo');
        assertExactlyOnce(state);
        assert.equal(state.sent, count);
        assert.deepEqual(state.errors, [], 'no link errors on a healthy path');
        const last = state.statuses.at(-1);
        assert.equal(last.bridge, 'open');
        assert.equal(last.links.echo, 'open');
        assert.equal(last.uploads.echo, path.upload, 'the worker used the upload path asked for');
        assert.deepEqual(tab.problems, []);
      }
      // The tabs on the service worker shared it: both bridges answered by one realm.
      const [a, b] = await Promise.all(tabs.slice(0, 2).map((t) => t.evaluate(() => /** @type {any} */ (window).probe.state())));
      assert.equal(a.instances.at(-1).instance, b.instances.at(-1).instance, 'one service worker for both tabs');
      const after = await gatewayRequests(host.origin);
      if (path.upload === 'batch') {
        assert.equal(after.up, before.up, 'no streaming upload was opened');
        assert.ok(after.batch > before.batch, 'events went up as batched POSTs');
      } else {
        assert.equal(after.batch, before.batch, 'no batched POSTs');
      }
      await Promise.all(tabs.map((tab) => tab.close()));
    });

    test('the demo page sends a message and shows its echo and the connection status', { timeout: 30_000 }, async () => {
      const page = await browser.newPage();
      await page.goto(`${host.origin}/demo/index.html?upload=${path.upload}&bridge=${path.bridge}`);
      await page.waitForSelector('#link-status[data-status="open"]', { timeout: 15_000 });
      assert.equal(await page.textContent('#bridge-status'), 'open');
      // The gateway serves pages cross-origin isolated, and nothing the demo loads breaks it.
      assert.equal(await page.evaluate(() => crossOriginIsolated), true);
      await page.fill('#text', 'hello from the demo');
      await page.click('button[type=submit]');
      await page.click('#send-100');
      await page.waitForFunction(() => document.getElementById('echoed')?.textContent === '101', undefined, { timeout: 15_000 });
      assert.match(String(await page.textContent('#events')), /#1 \{"text":"hello from the demo"\}/);
      assert.equal(await page.textContent('#waiting'), '0');
      assert.equal(await page.locator('#errors li').count(), 0);
      await page.close();
    });
  });
}
