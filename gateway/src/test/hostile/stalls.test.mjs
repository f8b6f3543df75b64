// Connections that hold the gateway without doing their part: 500 guest links with a zero
// stream window that never read (the gateway must hold at most a bounded amount for each),
// and connections that trickle their preface or a header block a byte every 2 s (the gateway
// must close them by its handshake deadline, a few seconds, not hold them for as long as
// bytes keep coming).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useSystem, healthyLinkVerdict, connect, heapUsedAfterGc, sleep, metrics, metric } from './support/system.mjs';
import { echoLink, waitFor } from './support/guest.mjs';
import { RawConnection, PREFACE, T, F, S, frame, headers, data, request, settings, headerBlock, literal, trickle } from './support/h2raw.mjs';

const sys = useSystem('stalls');
const HALF_HEAP = 128 * 1024 * 1024;
const STALLED = 500;
/** Default deadline "a few seconds": a trickling connection must be gone this long after it started. */
const CLOSED_WITHIN_MS = 12_000;
const BYTE_EVERY_MS = 2000;

describe('trickling connections are closed by the handshake deadline', { concurrency: true }, () => {
  /** Opens `how`, runs `feed`, and asserts the gateway closed the socket within CLOSED_WITHIN_MS. */
  async function closedByDeadline(t, target, feed) {
    const conn = await RawConnection.open(target);
    const t0 = Date.now();
    const stopAt = t0 + CLOSED_WITHIN_MS + 1000;
    try {
      const feeding = feed(conn, stopAt);
      const closed = await conn.closedWithin(CLOSED_WITHIN_MS);
      await feeding;
      t.diagnostic(closed ? `closed after ${conn.closedAt - t0} ms` : `still open after ${CLOSED_WITHIN_MS} ms`);
      assert.ok(closed, `the gateway kept a trickling connection open for ${CLOSED_WITHIN_MS} ms`);
    } finally {
      conn.destroy();
    }
  }

  const tlsPort = () => ({ port: sys.httpsPort, ca: sys.ca });

  test('a TLS connection that never sends the preface is closed', async (t) => {
    await closedByDeadline(t, tlsPort(), async () => {});
  });

  test('a preface trickled a byte every 2 s is closed', async (t) => {
    await closedByDeadline(t, tlsPort(), (conn, stopAt) => trickle(conn, Buffer.concat([PREFACE, settings([])]), BYTE_EVERY_MS, stopAt));
  });

  test('a header block trickled a byte every 2 s after a full preface is closed', async (t) => {
    await closedByDeadline(t, tlsPort(), async (conn, stopAt) => {
      await conn.start();
      const block = headers(1, request('POST', '/guest', sys.authority, 'https', [['x-slow', 'y'.repeat(200)]]), true);
      await trickle(conn, block, BYTE_EVERY_MS, stopAt);
    });
  });

  test('a header block left open (CONTINUATION of one byte every 2 s) is closed', async (t) => {
    await closedByDeadline(t, tlsPort(), async (conn, stopAt) => {
      await conn.start();
      await conn.write(frame(T.HEADERS, F.END_STREAM, 1, headerBlock(request('POST', '/guest', sys.authority))));
      const rest = literal('x-slow', 'z'.repeat(100));
      for (let i = 0; i < rest.length && Date.now() < stopAt && !conn.isClosed; i++) {
        await conn.write(frame(T.CONTINUATION, 0, 1, rest.subarray(i, i + 1)));
        await sleep(BYTE_EVERY_MS);
      }
    });
  });

  test('an h2c preface trickled a byte every 2 s on the plain port is closed', async (t) => {
    await closedByDeadline(t, { port: sys.plainPort, tls: false }, (conn, stopAt) => trickle(conn, Buffer.concat([PREFACE, settings([])]), BYTE_EVERY_MS, stopAt));
  });

  test('a TLS handshake trickled a byte every 2 s is closed', async (t) => {
    // A TLS record header announcing a 512-byte ClientHello, then its body a byte at a time.
    const hello = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), Buffer.alloc(501, 0x11)]);
    await closedByDeadline(t, { port: sys.httpsPort, tls: false }, (conn, stopAt) => trickle(conn, hello, BYTE_EVERY_MS, stopAt));
  });
});

describe('1000 stalled links', () => {
  /** @type {RawConnection[]} */
  const stalled = [];

  /**
   * Opens `count` links to `service` (query `query`) on raw TLS connections that grant no
   * stream window and stop reading once the requests are out; `upload` is sent on each.
   */
  async function openStalled(count, service, query, upload, prefix) {
    const c = await connect(sys);
    const guests = [];
    for (let i = 0; i < Math.ceil(count / 16); i++) guests.push(await c.newGuest());
    c.close();
    for (let i = 0; i < count; i += 25) {
      await Promise.all(Array.from({ length: Math.min(25, count - i) }, async (_, j) => {
        const n = i + j;
        const conn = await RawConnection.open({ port: sys.httpsPort, ca: sys.ca });
        stalled.push(conn);
        const guest = ['eventpaths-guest', guests[Math.floor(n / 16)]];
        await conn.start([[S.INITIAL_WINDOW_SIZE, 0]]);
        await conn.write(Buffer.concat([
          headers(1, request('POST', `/g/${service}/${prefix}${n}/up`, sys.authority, 'https', [guest, ['content-type', 'application/x-ndjson']])),
          data(1, upload),
          headers(3, request('GET', `/g/${service}/${prefix}${n}/down${query}`, sys.authority, 'https', [guest]), true),
        ]));
        conn.socket.pause(); // and never read again
      }));
    }
  }

  async function heapUnderHalf(t, what) {
    const used = heapUsedAfterGc(sys.pid);
    t.diagnostic(`gateway heap used after GC with ${what}: ${(used / 1048576).toFixed(1)} MB`);
    assert.ok(used < HALF_HEAP, `heap ${(used / 1048576).toFixed(1)} MB with ${what}`);
    assert.ok(stalled.filter((s) => !s.isClosed).length > 0, 'every stalled connection was closed before the measurement');
  }

  test('500 echo links with a zero stream window that never read keep the gateway heap under half of 256 MB', async (t) => {
    // ~32 KB of events per link: echo sends them all back, and the gateway may not pass them on.
    const events = Buffer.from(Array.from({ length: 32 }, (_, i) => `${JSON.stringify({ type: 's.fill', id: `f${i}`, data: 'x'.repeat(960) })}\n`).join(''));
    const t0 = Date.now();
    await openStalled(STALLED, 'echo', '', events, 'stall');
    t.diagnostic(`${STALLED} stalled links opened in ${Date.now() - t0} ms`);
    await sleep(3000); // the uploads reach echo and come back to the gateway
    // The links must really run: paired, and their uploads read (else the figure proves nothing).
    const m = await metrics(sys);
    const paired = metric(m, 'eventpaths_gateway_pairings_total');
    const eventsIn = metric(m, 'eventpaths_events_total', { side: 'guest', direction: 'in' });
    t.diagnostic(`pairings ${paired}, guest events read ${eventsIn}`);
    assert.ok(paired >= STALLED, `only ${paired} pairings: the stalled links did not run`);
    assert.ok(eventsIn >= STALLED * 32, `only ${eventsIn} uploaded events read`);
    await heapUnderHalf(t, `${STALLED} stalled echo links`);
  });

  test('500 more that never read, each from a source that would send 100 MB, keep it under half too', async (t) => {
    const t0 = Date.now();
    await openStalled(STALLED, 'source', '?n=100000&size=1000', Buffer.alloc(0), 'flow');
    t.diagnostic(`${STALLED} stalled sources opened in ${Date.now() - t0} ms`);
    await sleep(3000);
    await heapUnderHalf(t, `${STALLED} stalled echo links and ${STALLED} stalled sources`);
  });

  test('with 1000 stalled links, a new link still echoes within 1 s', async (t) => {
    const c = await connect(sys);
    try {
      const l = await echoLink(c, await c.newGuest(), 'beside-stalls');
      for (let i = 0; i < 10; i++) {
        const t0 = Date.now();
        l.up.send({ type: 's.fresh', id: `n${i}`, data: { i } });
        assert.ok(await waitFor(l.down, (e) => e.type === 's.fresh' && e.data.i === i, 1000), `echo ${i} not within 1 s`);
        if (i === 9) t.diagnostic(`echo in ${Date.now() - t0} ms`);
      }
    } finally {
      c.close();
    }
  });

  test('once the stalled connections close, the gateway lets go of their links', async (t) => {
    for (const s of stalled) s.destroy();
    const deadline = Date.now() + 10_000;
    let active = Infinity;
    while (Date.now() < deadline) {
      active = metric(await metrics(sys), 'eventpaths_links_active', { side: 'guest' });
      if (active <= 1) break; // the healthy link
      await sleep(250);
    }
    t.diagnostic(`guest links active after the close: ${active}`);
    assert.ok(active <= 1, `${active} guest links still held 10 s after their connections closed`);
  });
});

healthyLinkVerdict(sys);
