// Every guest refusal of docs/PROTOCOL.md section 5 (and section 2's as the gateway meets
// them on a guest's behalf), each asserted as status + JSON reason; refused uploads are
// answered and reset so their stream slot frees; batch numbers are integers 0..2^53 only.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import https from 'node:https';
import { useSystem, healthyLinkVerdict, connect, newGuest, ask, caPem, sleep } from './support/system.mjs';
import { openUpload, within, waitFor, echoLink, postBatch, batchLink, ndjson } from './support/guest.mjs';

const sys = useSystem('refusals');

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** `id` with the character at `at` moved to its neighbour that differs only in unused low bits. */
function unusedBitsChanged(id, at) {
  const i = B64URL.indexOf(id[at]);
  return id.slice(0, at) + B64URL[i ^ 1] + id.slice(at + 1);
}

/** A refusal as JSON: status and `error`. */
async function refusedAs(res, status, error) {
  assert.equal(res.status, status, `status ${res.status}: ${res.text}`);
  assert.equal(res.json?.error, error, res.text);
  assert.equal(typeof res.json?.message, 'string');
}

/** Opens an upload whose body stays open; asserts the answer, then that it was reset NO_ERROR. */
async function refusedAndReset(conn, guest, service, link, status, error, waitMs = 5000) {
  const up = openUpload(conn, guest, service, link);
  up.send({ type: 'x.before', id: 'b1' });
  const answer = await within(up.answer, waitMs);
  assert.notEqual(answer, 'timeout', `no answer to the upload in ${waitMs} ms`);
  await refusedAs(answer, status, error);
  const code = await within(up.reset, 1000);
  assert.equal(code, http2.constants.NGHTTP2_NO_ERROR,
    code === 'timeout' ? 'answered but not reset: the stream stays open and holds its slot' : `reset with ${code}`);
}

async function guestRequest(path, guest, method = 'GET') {
  const c = await connect(sys);
  try {
    return await ask(c, { ':method': method, ':path': path, ...(guest ? { 'eventpaths-guest': guest } : {}) }, '');
  } finally {
    c.close();
  }
}

describe('guest ids', { concurrency: true }, () => {
  test('a guest link without a guest id is refused bad_guest', async () => {
    await refusedAs(await guestRequest('/g/echo/a/down', null), 401, 'bad_guest');
  });

  test('a forged guest id (well formed, not signed here) is refused bad_guest', async () => {
    const forged = `${randomBytes(16).toString('base64url')}.${randomBytes(16).toString('base64url')}`;
    await refusedAs(await guestRequest('/g/echo/a/down', forged), 401, 'bad_guest');
  });

  test('a guest id with one character of its tag changed is refused bad_guest', async () => {
    const id = await newGuest(sys);
    const tampered = id.slice(0, 30) + (id[30] === 'A' ? 'B' : 'A') + id.slice(31);
    await refusedAs(await guestRequest('/g/echo/a/down', tampered), 401, 'bad_guest');
  });

  test('a guest id whose random half ends in another spelling (unused low bits changed) is refused bad_guest', async () => {
    const id = await newGuest(sys);
    await refusedAs(await guestRequest('/g/echo/a/down', unusedBitsChanged(id, 21)), 401, 'bad_guest');
  });

  test('a guest id whose tag ends in another spelling (unused low bits changed) is refused bad_guest', async () => {
    const id = await newGuest(sys);
    await refusedAs(await guestRequest('/g/echo/a/down', unusedBitsChanged(id, 44)), 401, 'bad_guest');
  });

  test('a guest id in the standard base64 alphabet (+ and / for - and _) is refused bad_guest', async () => {
    let id = '';
    for (let i = 0; i < 30 && !/[-_]/.test(id); i++) id = await newGuest(sys);
    assert.match(id, /[-_]/, 'no issued id had - or _ in 30 tries');
    await refusedAs(await guestRequest('/g/echo/a/down', id.replace(/-/g, '+').replace(/_/g, '/')), 401, 'bad_guest');
  });

  test('a guest id with base64 padding is refused bad_guest', async () => {
    const id = await newGuest(sys);
    const [a, b] = id.split('.');
    await refusedAs(await guestRequest('/g/echo/a/down', `${a}==.${b}==`), 401, 'bad_guest');
  });

  test('a tampered guest id is refused bad_guest on the upload, the download and batches alike', async () => {
    const tampered = unusedBitsChanged(await newGuest(sys), 44);
    const c = await connect(sys);
    try {
      const up = openUpload(c, tampered, 'echo', 'tb');
      await refusedAs(await up.answer, 401, 'bad_guest');
      await refusedAs(await ask(c, { ':method': 'GET', ':path': '/g/echo/tb/down', 'eventpaths-guest': tampered }), 401, 'bad_guest');
      await refusedAs(await postBatch(c, tampered, 'echo', 'tb', 0, ndjson({ type: 'x.y' })), 401, 'bad_guest');
    } finally {
      c.close();
    }
  });

  test('the canonical guest id as issued opens a link that echoes', async () => {
    const c = await connect(sys);
    try {
      const guest = await c.newGuest();
      assert.match(guest, /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{22}$/);
      const l = await echoLink(c, guest, 'canon');
      l.up.send({ type: 'canon.ping', id: 'c1' });
      assert.ok(await waitFor(l.down, (e) => e.type === 'canon.ping'), 'the event came back');
      l.up.close();
      l.down.close();
    } finally {
      c.close();
    }
  });
});

describe('what a guest may reach', { concurrency: true }, () => {
  test('a service that is not routed is refused unknown_service', async () => {
    await refusedAs(await guestRequest('/g/nothing-here/a/down', await newGuest(sys)), 404, 'unknown_service');
  });

  test('an internal target that is not routed is refused forbidden_service', async () => {
    await refusedAs(await guestRequest('/g/internal/a/down', await newGuest(sys)), 403, 'forbidden_service');
  });

  test('a link name over 64 characters is refused bad_link_name', async () => {
    await refusedAs(await guestRequest(`/g/echo/${'a'.repeat(65)}/down`, await newGuest(sys)), 400, 'bad_link_name');
  });

  test('a link name with a character outside A-Z a-z 0-9 _ - is refused bad_link_name', async () => {
    await refusedAs(await guestRequest('/g/echo/a.b/down', await newGuest(sys)), 400, 'bad_link_name');
  });

  test('a download with more than 16 query parameters is refused bad_params', async () => {
    const q = Array.from({ length: 17 }, (_, i) => `p${i}=1`).join('&');
    await refusedAs(await guestRequest(`/g/echo/a/down?${q}`, await newGuest(sys)), 400, 'bad_params');
  });

  for (const [half, path, method] of [['upload', '/g/echo/h1/up', 'POST'], ['download', '/g/echo/h1/down', 'GET']]) {
    test(`an ${half} over HTTP/1.1 is refused http2_required`, async () => {
      const guest = await newGuest(sys);
      const res = await new Promise((resolve, reject) => {
        const req = https.request(`${sys.origin}${path}`, { method, ca: caPem(sys), headers: { 'eventpaths-guest': guest }, ALPNProtocols: ['http/1.1'] }, (r) => {
          let text = '';
          r.setEncoding('utf8');
          r.on('data', (d) => { text += d; });
          r.on('end', () => { let json = null; try { json = JSON.parse(text); } catch { /* */ } resolve({ status: r.statusCode, text, json }); });
        });
        req.on('error', reject);
        req.end();
      });
      await refusedAs(res, 505, 'http2_required');
    });
  }

  test('a guest calling the host-to-host route on the gateway gets no link', async () => {
    const c = await connect(sys);
    try {
      const res = await ask(c, { ':method': 'POST', ':path': '/links/echo', 'content-type': 'application/x-ndjson' }, '');
      assert.ok([401, 404].includes(res.status), `status ${res.status}: ${res.text}`);
      assert.doesNotMatch(res.text, /link\.ready/);
    } finally {
      c.close();
    }
  });
});

describe('pairing', { concurrency: true }, () => {
  test('a download with no upload is refused unpaired after the grace, with action reopen', async () => {
    const res = await guestRequest('/g/echo/lonely/down', await newGuest(sys));
    await refusedAs(res, 409, 'unpaired');
    assert.equal(res.json.action, 'reopen');
  });

  test('an upload with no download is answered pairing_timeout and reset', async () => {
    const c = await connect(sys);
    try {
      await refusedAndReset(c, await c.newGuest(), 'echo', 'nodown', 408, 'pairing_timeout', 8000);
    } finally {
      c.close();
    }
  });

  test('a second download for a pair is refused duplicate_stream', async () => {
    const c = await connect(sys);
    try {
      const guest = await c.newGuest();
      const l = await echoLink(c, guest, 'dupdown');
      await refusedAs(await ask(c, { ':method': 'GET', ':path': '/g/echo/dupdown/down', 'eventpaths-guest': guest }), 409, 'duplicate_stream');
      l.up.close();
      l.down.close();
    } finally {
      c.close();
    }
  });

  test('a second upload for a pair is refused duplicate_stream, answered and reset', async () => {
    const c = await connect(sys);
    try {
      const guest = await c.newGuest();
      const l = await echoLink(c, guest, 'dupup');
      await refusedAndReset(c, guest, 'echo', 'dupup', 409, 'duplicate_stream');
      l.up.close();
      l.down.close();
    } finally {
      c.close();
    }
  });

  test('a waiting upload replaced by one from another connection is answered superseded', async () => {
    const [c1, c2] = [await connect(sys), await connect(sys)];
    try {
      const guest = await c1.newGuest();
      const old = openUpload(c1, guest, 'echo', 'moved');
      await sleep(200);
      const fresh = openUpload(c2, guest, 'echo', 'moved');
      const answer = await within(old.answer, 3000);
      assert.notEqual(answer, 'timeout');
      await refusedAs(answer, 409, 'superseded');
      assert.equal(answer.json.action, 'reopen');
      fresh.close();
    } finally {
      c1.close();
      c2.close();
    }
  });

  test('a guest\'s 17th link is refused too_many_links, answered and reset', async () => {
    const c = await connect(sys);
    try {
      const guest = await c.newGuest();
      const ups = Array.from({ length: 16 }, (_, i) => openUpload(c, guest, 'echo', `many${i}`));
      await sleep(300);
      await refusedAndReset(c, guest, 'echo', 'many16', 429, 'too_many_links');
      ups.forEach((u) => u.close());
    } finally {
      c.close();
    }
  });

  test('a connection\'s 65th guest stream is refused too_many_streams', async () => {
    const c = await connect(sys);
    try {
      const guests = [];
      for (let i = 0; i < 5; i++) guests.push(await c.newGuest());
      const ups = [];
      for (let i = 0; i < 64; i++) ups.push(openUpload(c, guests[i % 4], 'echo', `s${i}`));
      await sleep(500);
      const res = await within(openUpload(c, guests[4], 'echo', 'one-too-many').answer, 3000);
      assert.notEqual(res, 'timeout');
      await refusedAs(res, 429, 'too_many_streams');
      ups.forEach((u) => u.close());
    } finally {
      c.close();
    }
  });

  test('a batch-mode download for a link with a streaming upload is refused mode_conflict', async () => {
    const c = await connect(sys);
    try {
      const guest = await c.newGuest();
      const up = openUpload(c, guest, 'echo', 'mixed');
      await sleep(200);
      await refusedAs(await ask(c, { ':method': 'GET', ':path': '/g/echo/mixed/down?mode=batch', 'eventpaths-guest': guest }), 409, 'mode_conflict');
      up.close();
    } finally {
      c.close();
    }
  });

  test('a batch for a link with no fallback download is refused no_link', async () => {
    const c = await connect(sys);
    try {
      await refusedAs(await postBatch(c, await c.newGuest(), 'echo', 'nolink', 0, ndjson({ type: 'x.y' })), 404, 'no_link');
    } finally {
      c.close();
    }
  });
});

describe('refused uploads are answered and reset, so their stream slot frees', { concurrency: true }, () => {
  test('an upload refused bad_guest is answered and reset NO_ERROR', async () => {
    const c = await connect(sys);
    try {
      await refusedAndReset(c, unusedBitsChanged(await c.newGuest(), 30), 'echo', 'r1', 401, 'bad_guest');
    } finally {
      c.close();
    }
  });

  test('an upload refused unknown_service is answered and reset NO_ERROR', async () => {
    const c = await connect(sys);
    try {
      await refusedAndReset(c, await c.newGuest(), 'nothing-here', 'r2', 404, 'unknown_service');
    } finally {
      c.close();
    }
  });

  test('an upload refused bad_link_name is answered and reset NO_ERROR', async () => {
    const c = await connect(sys);
    try {
      await refusedAndReset(c, await c.newGuest(), 'echo', 'bad.name', 400, 'bad_link_name');
    } finally {
      c.close();
    }
  });

  test('300 refused uploads on one connection leave it able to open a link (256 stream slots)', async () => {
    const c = await connect(sys);
    try {
      const guest = await c.newGuest();
      const refused = [];
      for (let i = 0; i < 300; i++) {
        const up = openUpload(c, guest, 'nothing-here', `slot${i}`);
        up.send({ type: 'x.y' });
        refused.push(up);
      }
      const answered = await within(Promise.all(refused.map((u) => u.answer)), 10_000);
      assert.notEqual(answered, 'timeout', 'refusals past the 256th never came: the first ones still hold their streams');
      const l = await within(c.link(guest, 'echo', 'after-refusals'), 5000);
      assert.notEqual(l, 'timeout', 'a link after 300 refused uploads did not open');
      assert.ok(l.ok, JSON.stringify(l.body ?? l.event));
      l.up.close();
      l.down.close();
    } finally {
      c.close();
    }
  });
});

describe('batch numbers', { concurrency: true }, () => {
  /** A fresh fallback link: its connection, guest and download. */
  async function fallback(name) {
    const c = await connect(sys);
    const guest = await c.newGuest();
    const down = await batchLink(c, guest, name);
    return { c, guest, down };
  }

  test('batch 0 is applied and its events echoed', async () => {
    const { c, guest, down } = await fallback('b-ok');
    try {
      const res = await postBatch(c, guest, 'echo', 'b-ok', 0, ndjson({ type: 'b.one', id: 'b1' }));
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.accepted, 1);
      assert.ok(await waitFor(down, (e) => e.type === 'b.one'));
    } finally {
      c.close();
    }
  });

  for (const [what, n] of [
    ['-1', '-1'],
    ['a negative number (-7)', '-7'],
    ['a fraction (1.5)', '1.5'],
    ['exponent notation (1e3)', '1e3'],
    ['a word', 'abc'],
    ['empty', ''],
    ['2^53 + 1', '9007199254740993'],
    ['beyond 64 bits', '99999999999999999999'],
  ]) {
    test(`batch number ${what} is refused bad_batch_number and applies nothing`, async () => {
      const { c, guest, down } = await fallback('b-bad');
      try {
        await refusedAs(await postBatch(c, guest, 'echo', 'b-bad', n, ndjson({ type: 'b.bad', id: 'bad' })), 400, 'bad_batch_number');
        const ok = await postBatch(c, guest, 'echo', 'b-bad', 0, ndjson({ type: 'b.good', id: 'good' }));
        assert.equal(ok.status, 200, `batch 0 after the refusal: ${ok.text}`);
        assert.ok(await waitFor(down, (e) => e.type === 'b.good'));
        assert.equal(down.events.find((e) => e.type === 'b.bad'), undefined, 'the refused batch was applied');
      } finally {
        c.close();
      }
    });
  }

  test('a retried batch is answered duplicate and applied once', async () => {
    const { c, guest, down } = await fallback('b-dup');
    try {
      const body = ndjson({ type: 'b.once', id: 'once' });
      assert.equal((await postBatch(c, guest, 'echo', 'b-dup', 0, body)).status, 200);
      const again = await postBatch(c, guest, 'echo', 'b-dup', 0, body);
      assert.equal(again.status, 200);
      assert.equal(again.json.duplicate, true);
      assert.equal((await postBatch(c, guest, 'echo', 'b-dup', 1, ndjson({ type: 'b.end' }))).status, 200);
      await waitFor(down, (e) => e.type === 'b.end');
      assert.equal(down.events.filter((e) => e.type === 'b.once').length, 1);
    } finally {
      c.close();
    }
  });

  test('a batch that skips ahead is refused batch_gap with the expected number', async () => {
    const { c, guest } = await fallback('b-gap');
    try {
      const res = await postBatch(c, guest, 'echo', 'b-gap', 3, ndjson({ type: 'b.gap' }));
      await refusedAs(res, 409, 'batch_gap');
      assert.equal(res.json.expected, 0);
    } finally {
      c.close();
    }
  });

  test('a batch over 1 MiB is refused batch_too_large', async () => {
    const { c, guest } = await fallback('b-big');
    try {
      const line = `${JSON.stringify({ type: 'b.big', data: 'x'.repeat(1000) })}\n`;
      await refusedAs(await postBatch(c, guest, 'echo', 'b-big', 0, line.repeat(1100)), 413, 'batch_too_large');
    } finally {
      c.close();
    }
  });

  test('batches to a host that does not read are answered slow_down with retry-after', async () => {
    const c = await connect(sys);
    try {
      const guest = await c.newGuest();
      await batchLink(c, guest, 'b-slow', 'sink', 'delay-ms=60000');
      const body = ndjson(...Array.from({ length: 900 }, (_, i) => ({ type: 'b.slow', id: `s${i}`, data: 'x'.repeat(60) })));
      let res;
      for (let n = 0; n < 30; n++) {
        res = await postBatch(c, guest, 'sink', 'b-slow', n, body);
        if (res.status !== 200) break;
      }
      await refusedAs(res, 429, 'slow_down');
      assert.ok(Number(res.headers['retry-after']) > 0);
    } finally {
      c.close();
    }
  });
});

describe('host refusals as a guest sees them', { concurrency: true }, () => {
  /** Opens a link to `service` and returns the download's first link.ready or link.error. */
  async function firstWord(service, ms = 10_000) {
    const c = await connect(sys);
    const guest = await c.newGuest();
    const up = c.upload(guest, service, 'hr');
    const down = await within(c.download(guest, service, 'hr'), ms);
    if (down === 'timeout') return { c, up, down, word: null };
    const word = down.status === 200
      ? await waitFor(down, (e) => e.type === 'link.ready' || e.type === 'link.error', ms)
      : { type: 'refused', status: down.status, body: down.body };
    return { c, up, down, word };
  }

  for (const [what, service, reason] of [
    ['a host that refuses the gateway\'s secret', 'wrongsecret', 'unauthorized'],
    ['a routed service missing from its app', 'absent', 'unknown_service'],
    ['a host that is down', 'down', 'connect_failed'],
  ]) {
    test(`${what} ends the guest link with a fatal link.error ${reason}`, async () => {
      const { c, word } = await firstWord(service);
      try {
        assert.equal(word?.type, 'link.error', JSON.stringify(word));
        assert.equal(word.data.reason, reason);
        assert.equal(word.data.fatal, true);
        assert.doesNotMatch(JSON.stringify(word), /127\.0\.0\.1|https?:\/\/|Exception/, 'no internal address or exception reaches the guest');
      } finally {
        c.close();
      }
    });
  }

  test('a guest link that cannot get a host stream gets a fatal link.error busy, not silence', async () => {
    const { c, word } = await firstWord('nostream', 10_000);
    try {
      assert.ok(word, 'no link.ready or link.error within 10 s: silence');
      assert.equal(word.type, 'link.error', JSON.stringify(word));
      assert.equal(word.data.reason, 'busy');
      assert.equal(word.data.fatal, true);
    } finally {
      c.close();
    }
  });
});

healthyLinkVerdict(sys);
