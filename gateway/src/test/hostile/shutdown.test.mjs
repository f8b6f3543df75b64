// The last refusal of section 5: a gateway that is stopping ends every guest link with a
// fatal link.error shutting_down (the guest reopens elsewhere) and takes no new streams. Its
// own file, since the gateway does not come back; the healthy link's verdict comes first.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useSystem, healthyLinkVerdict, connect, ask } from './support/system.mjs';
import { echoLink, waitFor, openUpload, within } from './support/guest.mjs';

const sys = useSystem('shutdown');

test('an upload that breaks ends its pair with a fatal link.error upload_lost', async () => {
  const c = await connect(sys);
  try {
    const l = await echoLink(c, await c.newGuest(), 'broken-up');
    l.up.close(); // RST_STREAM CANCEL on the upload only
    const e = await waitFor(l.down, (x) => x.type === 'link.error', 5000);
    assert.equal(e?.data.reason, 'upload_lost', JSON.stringify(l.down.events));
    assert.equal(e.data.fatal, true);
  } finally {
    c.close();
  }
});

healthyLinkVerdict(sys);

test('a stopping gateway ends each guest link with a fatal link.error shutting_down and refuses new streams', async () => {
  const c = await connect(sys);
  const guest = await c.newGuest();
  const l = await echoLink(c, guest, 'at-shutdown');
  const stopped = sys.host.gateway.stop('SIGTERM');
  const e = await waitFor(l.down, (x) => x.type === 'link.error', 5000);
  assert.equal(e?.data.reason, 'shutting_down', JSON.stringify(l.down.events));
  assert.equal(e.data.fatal, true);
  // A new stream on the open connection, while the gateway drains: refused or the connection gone.
  if (c.alive) {
    const res = await within(openUpload(c, guest, 'echo', 'too-late').answer, 3000).catch(() => 'failed');
    if (res !== 'failed' && res !== 'timeout' && res.status !== 0) {
      assert.equal(res.status, 503, res.text);
      assert.equal(res.json?.error, 'shutting_down');
    }
  }
  await stopped;
  c.close();
});
