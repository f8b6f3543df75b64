// Recovery when the host side breaks under a running page: the gateway is killed (SIGKILL:
// no goodbye, the browser's HTTP/2 connection just drops) and started again on the same
// port while a tab keeps writing, then the same for the echo host service. The tab's events
// carry ids and seqs: each must come back exactly once, in order. Run on the normal path
// and with the fallbacks forced.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHostSide } from './support/servers.mjs';
import { launchBrowser } from './support/browser.mjs';
import { assertExactlyOnce, openProbe, probeState, send, waitForState } from './support/probe.mjs';

/** @type {Awaited<ReturnType<typeof startHostSide>>} */
let host;
before(async () => {
  host = await startHostSide({ jvm: ['-XX:TieredStopAtLevel=1'] });
});
after(async () => {
  await host?.stop();
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

    test('gateway restarted mid-stream, then the echo host restarted: nothing lost, nothing twice', { timeout: 90_000 }, async () => {
      // One write every 20 ms for the whole test: writes keep coming while things break.
      const tab = await openProbe(browser, host.origin, { upload: path.upload, bridge: path.bridge, interval: '20' });
      await send(tab, 1_000_000);
      await waitForState(tab, (s) => s.received >= 50, 10_000, 'traffic before the first break');

      for (const proc of [host.gateway, host.echo]) {
        const at = (await probeState(tab)).received;
        await proc.stop('SIGKILL');
        // Long enough for the browser to notice and start retrying against nothing.
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        await proc.start();
        await waitForState(tab, (s) => s.received >= at + 100, 30_000, `echoes again after the ${proc.name} restart`);
      }

      // Stop writing, let everything in flight come back, then check.
      const final = await tab.evaluate(() => {
        const probe = /** @type {any} */ (window).probe;
        const state = probe.state();
        probe.send(-(state.target - state.sent));
        return probe.state().sent;
      });
      const state = await waitForState(tab, (s) => s.received >= s.sent && s.sent >= final, 30_000, 'the last echoes');
      assertExactlyOnce(state);
      const reasons = new Set(state.errors.map((/** @type {any} */ e) => e.reason));
      assert.ok(state.errors.length > 0, 'the breaks were reported to the view');
      assert.ok(state.errors.every((/** @type {any} */ e) => e.reconnect), `every error says it reconnects: ${[...reasons]}`);
      const linkStates = state.statuses.map((/** @type {any} */ s) => s.links.echo);
      assert.ok(linkStates.includes('reconnecting'), 'the status showed the link reconnecting');
      assert.equal(linkStates.at(-1), 'open', 'and open again');
      assert.deepEqual(tab.problems, []);
      console.log(`# ${path.name}: ${state.sent} events, errors seen: ${[...reasons].join(', ')}`);
      await tab.close();
    });
  });
}
