// Frame floods over TLS, written raw (support/h2raw.mjs): rapid reset, CONTINUATION, SETTINGS
// and PING floods from a client that does not read, an HPACK bomb, streams past the limit.
// Each is cut off (GOAWAY, a reset or a closed connection) well before it ends; afterwards
// the gateway's heap is bounded and a new link echoes.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useSystem, healthyLinkVerdict, connect, heapUsedAfterGc, sleep } from './support/system.mjs';
import { echoLink, waitFor } from './support/guest.mjs';
import { RawConnection, T, F, S, ERR, frame, headers, request, settings, ping, rstStream, literal, indexed, headerBlock } from './support/h2raw.mjs';

const sys = useSystem('floods');
const HALF_HEAP = 128 * 1024 * 1024;

async function raw() {
  const c = await RawConnection.open({ port: sys.httpsPort, ca: sys.ca });
  return c;
}

/** Writes `make(i)` frames in chunks of `chunk` until `total` or the connection is cut off; returns how many went out. */
async function flood(conn, total, chunk, make) {
  let sent = 0;
  while (sent < total) {
    if (conn.goaway !== null || conn.isClosed) break;
    const frames = [];
    for (let i = 0; i < chunk && sent + i < total; i++) frames.push(make(sent + i));
    if (!(await conn.write(Buffer.concat(frames)))) break;
    sent += frames.length;
  }
  return sent;
}

describe('floods are cut off', () => {
  test('a rapid reset flood (open a stream, reset it, 5000 times) is cut off', async (t) => {
    const c = await raw();
    try {
      await c.start();
      const get = (i) => Buffer.concat([
        headers(2 * i + 1, request('GET', '/q/health/live', sys.authority), true),
        rstStream(2 * i + 1, ERR.CANCEL),
      ]);
      const sent = await flood(c, 5000, 50, get);
      assert.ok(await c.cutOff(5000), `still open after ${sent} opened-and-reset streams`);
      const answered = c.counts.get(T.HEADERS) ?? 0;
      t.diagnostic(`${sent} opened-and-reset streams written, ${answered} answered before GOAWAY ${c.goaway}`);
    } finally {
      c.destroy();
    }
  });

  test('a CONTINUATION flood (one header block that never ends, 16 MB) is cut off', async (t) => {
    const c = await raw();
    try {
      await c.start();
      const first = frame(T.HEADERS, 0, 1, headerBlock(request('POST', '/guest', sys.authority)));
      await c.write(first);
      const filler = literal('x-flood', 'a'.repeat(16_000));
      const sent = await flood(c, 1000, 4, () => frame(T.CONTINUATION, 0, 1, filler));
      assert.ok(await c.cutOff(5000), `still open after ${sent} CONTINUATION frames`);
      t.diagnostic(`cut off after ${sent} CONTINUATION frames of 16 KB (GOAWAY ${c.goaway})`);
    } finally {
      c.destroy();
    }
  });

  for (const [what, make, size] of [
    ['SETTINGS', () => settings([]), 9],
    ['PING', (i) => { const d = Buffer.alloc(8); d.writeUInt32BE(i, 4); return ping(d); }, 17],
  ]) {
    test(`a ${what} flood from a client that never reads its ACKs is cut off`, async (t) => {
      const c = await raw();
      try {
        await c.start();
        await sleep(100);
        c.socket.pause(); // the ACKs pile up at the gateway unless it stops
        const total = 2_000_000;
        const sent = await flood(c, total, 20_000, make);
        c.socket.resume();
        const cut = await c.cutOff(5000);
        t.diagnostic(`${what}: ${sent} frames (${((sent * size) / 1e6).toFixed(1)} MB) sent; GOAWAY ${c.goaway}, closed ${c.isClosed}`);
        assert.ok(cut, `still open after ${sent} ${what} frames it never read the answers to`);
      } finally {
        c.destroy();
      }
    });
  }

  test('an HPACK bomb (one 4 KB table entry referenced 16000 times per block) is refused, not decoded', async (t) => {
    const c = await raw();
    try {
      await c.start();
      const pseudo = headerBlock(request('GET', '/q/health/live', sys.authority));
      const seed = Buffer.concat([pseudo, literal('x-bomb', 'a'.repeat(4000), true), ...Array(3000).fill(indexed(62))]);
      const bomb = (id) => frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, id, Buffer.concat([pseudo, ...Array(16_000).fill(indexed(62))]));
      await c.write(frame(T.HEADERS, F.END_HEADERS | F.END_STREAM, 1, seed));
      let sent = 1;
      for (let id = 3; id < 200 && !c.isClosed && c.goaway === null; id += 2) {
        await c.write(bomb(id));
        sent++;
      }
      await c.cutOff(2000);
      const ok = c.frames.filter((f) => f.type === T.HEADERS && f.payload[0] === 0x88); // :status 200, indexed
      t.diagnostic(`${sent} bomb blocks (${((sent * 16_000 * 4038) / 1e9).toFixed(1)} GB decoded if taken); ${c.resets.size} resets, GOAWAY ${c.goaway}, closed ${c.isClosed}`);
      assert.deepEqual(ok.map((f) => f.stream), [], 'a bomb was decoded and answered 200');
      assert.ok(c.resets.size > 0 || c.goaway !== null || c.isClosed, 'the bombs were neither refused nor cut off');
    } finally {
      c.destroy();
    }
  });

  test('streams past the 256 concurrent are refused with RST_STREAM', async (t) => {
    const c = await raw();
    try {
      await c.start();
      // Each stream stays open: its request body never ends.
      const open = (i) => headers(2 * i + 1, request('POST', '/guest', sys.authority), false);
      await flood(c, 300, 50, open);
      await sleep(1000);
      const refused = [...c.resets.values()].filter((code) => code === 7).length;
      t.diagnostic(`${refused} REFUSED_STREAM, GOAWAY ${c.goaway}`);
      assert.ok(refused >= 44 || c.goaway !== null, `${refused} of the 44 streams past the limit refused`);
    } finally {
      c.destroy();
    }
  });
});

test('after the floods the gateway heap is under half of 256 MB and a new link echoes', async (t) => {
  const used = heapUsedAfterGc(sys.pid);
  t.diagnostic(`heap used after GC: ${(used / 1048576).toFixed(1)} MB`);
  assert.ok(used < HALF_HEAP, `heap ${(used / 1048576).toFixed(1)} MB`);
  const c = await connect(sys);
  try {
    const l = await echoLink(c, await c.newGuest(), 'after-floods');
    const t0 = Date.now();
    l.up.send({ type: 'f.after', id: 'a1' });
    assert.ok(await waitFor(l.down, (e) => e.type === 'f.after', 1000), 'no echo within 1 s');
    t.diagnostic(`echo in ${Date.now() - t0} ms`);
  } finally {
    c.close();
  }
});

healthyLinkVerdict(sys);
