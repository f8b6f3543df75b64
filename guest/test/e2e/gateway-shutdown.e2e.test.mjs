// Graceful shutdown of the gateway (what Fly does on every deploy: SIGTERM, then kill_timeout):
// each open guest link must end with a fatal link.error on its download, so the guest reopens
// it at once on another instance instead of waiting 45 s for a silent connection to time out.
// The reason is "shutting_down", said by the gateway itself: its host links stay up until it
// has ended the guest links (they used to be closed first, with the HTTP verticles that
// created their client, and guests saw "connection_lost"). A guest played by Node's http2
// client against the packaged apps.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHostSide } from './support/servers.mjs';
import { GuestConnection } from './support/guest-h2.mjs';

/** @type {Awaited<ReturnType<typeof startHostSide>>} */
let host;
before(async () => {
  host = await startHostSide({ jvm: ['-XX:TieredStopAtLevel=1'] });
});
after(async () => {
  await host?.stop();
});

test('SIGTERM to the gateway ends every guest link with a fatal link.error on its download', { timeout: 90_000 }, async () => {
  const conn = await GuestConnection.open(host.origin, host.cert.ca);
  try {
    const guest = await conn.newGuest();
    const links = [];
    for (let i = 0; i < 3; i++) {
      const l = await conn.link(guest, 'echo', `bye-${i}`);
      assert.ok(l.ok, `link ${i} opened: ${JSON.stringify(l.event ?? l.body)}`);
      links.push(l);
    }
    // A round trip first, so the links are live end to end.
    links[0].up.send({ type: 'hello', id: 'h1', seq: 1 });
    await waitFor(() => links[0].down.events.some((e) => e.type === 'hello'), 10_000, 'the echo');

    await host.gateway.stop('SIGTERM');

    for (const [i, l] of links.entries()) {
      await Promise.race([l.down.ended, sleep(15_000)]);
      const last = l.down.events.at(-1);
      assert.equal(last?.type, 'link.error', `link ${i}: the download's last event: ${JSON.stringify(l.down.events)}`);
      assert.equal(last.data.reason, 'shutting_down', `link ${i}: ${JSON.stringify(last)}`);
      assert.equal(last.data.fatal, true);
    }
  } finally {
    conn.close();
    await host.gateway.start();
  }
});

/** @param {number} ms */
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** @param {() => boolean} ok @param {number} ms @param {string} what */
async function waitFor(ok, ms, what) {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
