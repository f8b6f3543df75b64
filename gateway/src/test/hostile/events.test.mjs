// What a guest uploads: lines that are not valid UTF-8, reserved `link.*` types, and the
// section 3 refusals. Each bad line is answered on the download with a non-fatal link.error
// and never reaches the service (echo would send it straight back); the link goes on.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { useSystem, healthyLinkVerdict, connect } from './support/system.mjs';
import { waitFor, echoLink, postBatch, batchLink, ndjson } from './support/guest.mjs';

const sys = useSystem('events');

let linkNo = 0;

/**
 * Opens an echo link, uploads `bad` (bytes of one or more lines), then a marker event, and
 * returns the download's events up to the marker's echo.
 */
async function upload(bad) {
  const c = await connect(sys);
  const guest = await c.newGuest();
  const l = await echoLink(c, guest, `ev${++linkNo}`);
  l.up.req.write(Buffer.isBuffer(bad) ? bad : Buffer.from(bad));
  l.up.send({ type: 'u.marker', id: 'marker' });
  const marker = await waitFor(l.down, (e) => e.type === 'u.marker', 5000);
  // The first event is the host link's own link.ready; any later one was echoed.
  const events = l.down.events.slice(l.down.events[0]?.type === 'link.ready' ? 1 : 0);
  l.up.close();
  l.down.close();
  c.close();
  assert.ok(marker, `the marker after the bad line never came back; got ${JSON.stringify(events)}`);
  return events;
}

/** Asserts exactly one non-fatal link.error `reason` came before the marker, and nothing else. */
function refusedOnce(events, reason) {
  const errors = events.filter((e) => e.type === 'link.error');
  const others = events.filter((e) => e.type !== 'link.error' && e.type !== 'u.marker');
  assert.deepEqual(others, [], 'the refused line reached the service (echo sent it back)');
  assert.equal(errors.length, 1, `link.errors: ${JSON.stringify(errors)}`);
  assert.equal(errors[0].data.reason, reason, JSON.stringify(errors[0]));
  assert.equal(errors[0].data.fatal, false);
  return errors[0];
}

const line = (...parts) => Buffer.concat([Buffer.from('{"type":"u.bad","id":"bad1","data":"'), ...parts.map((p) => Buffer.from(p)), Buffer.from('"}\n')]);

describe('invalid UTF-8 in an uploaded line is malformed_event and never forwarded', { concurrency: true }, () => {
  for (const [what, bytes] of [
    ['an overlong two-byte "/" (C0 AF)', [0xc0, 0xaf]],
    ['an overlong three-byte "/" (E0 80 AF)', [0xe0, 0x80, 0xaf]],
    ['an overlong four-byte NUL (F0 80 80 80)', [0xf0, 0x80, 0x80, 0x80]],
    ['a UTF-16 surrogate (ED A0 80)', [0xed, 0xa0, 0x80]],
    ['a paired surrogate written as two (ED A0 BD ED B8 80)', [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80]],
    ['a lead byte F5 (past U+10FFFF)', [0xf5, 0x80, 0x80, 0x80]],
    ['a code point past U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80]],
    ['the byte FF', [0xff]],
    ['a lone continuation byte (80)', [0x80]],
    ['a truncated sequence (E2 82 then the quote)', [0xe2, 0x82]],
  ]) {
    test(`${what} in a string value is refused malformed_event`, async () => {
      refusedOnce(await upload(line([0x61], bytes, [0x62])), 'malformed_event');
    });
  }

  test('invalid UTF-8 in a field name is refused malformed_event', async () => {
    const bad = Buffer.concat([Buffer.from('{"type":"u.bad","'), Buffer.from([0xc0, 0xaf]), Buffer.from('":1}\n')]);
    refusedOnce(await upload(bad), 'malformed_event');
  });

  test('valid UTF-8 (two, three and four bytes) passes untouched', async () => {
    const events = await upload(`${JSON.stringify({ type: 'u.fine', data: 'é€😀' })}\n`);
    assert.deepEqual(events.map((e) => e.type), ['u.fine', 'u.marker']);
    assert.equal(events[0].data, 'é€😀');
  });

  test('invalid UTF-8 in a batch is refused malformed_event and not applied', async () => {
    const c = await connect(sys);
    try {
      const guest = await c.newGuest();
      const down = await batchLink(c, guest, 'utf8-batch');
      const body = Buffer.concat([line([0xed, 0xa0, 0x80]), Buffer.from(ndjson({ type: 'u.marker' }))]);
      const res = await postBatch(c, guest, 'echo', 'utf8-batch', 0, body);
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.accepted, 1, res.text);
      assert.equal(res.json.refused?.[0]?.reason, 'malformed_event', res.text);
      await waitFor(down, (e) => e.type === 'u.marker');
      assert.equal(down.events.find((e) => e.type === 'u.bad'), undefined, 'the bad line was forwarded');
    } finally {
      c.close();
    }
  });
});

describe('reserved link.* types from a guest are refused reserved_type', { concurrency: true }, () => {
  for (const type of ['link.ready', 'link.error', 'link.resume', 'link.status', 'link.anything']) {
    test(`a guest's ${type} is refused reserved_type and never forwarded`, async () => {
      const events = await upload(ndjson({ type, id: 'r1', data: { reason: 'x', fatal: false, after: 1, link: 'l', service: 's' } }));
      const refusal = (e) => e.type === 'link.error' && e.data?.reason === 'reserved_type';
      assert.deepEqual(events.filter((e) => e.type === type && !refusal(e)), [], `${type} came back from the service`);
      const errors = events.filter(refusal);
      assert.equal(errors.length, 1, `no reserved_type refusal: ${JSON.stringify(events)}`);
      assert.equal(errors[0].data.fatal, false);
      assert.equal(errors[0].data.event, 'r1', 'the refusal names the event');
    });
  }

  test('a guest\'s link.heartbeat is consumed: no echo, no error', async () => {
    const events = await upload(ndjson({ type: 'link.heartbeat' }));
    assert.deepEqual(events.map((e) => e.type), ['u.marker']);
  });

  test('a reserved type in a batch is refused reserved_type and not applied', async () => {
    const c = await connect(sys);
    try {
      const guest = await c.newGuest();
      const down = await batchLink(c, guest, 'reserved-batch');
      const res = await postBatch(c, guest, 'echo', 'reserved-batch', 0, ndjson({ type: 'link.ready', id: 'r2' }, { type: 'u.marker' }));
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.refused?.[0]?.reason, 'reserved_type', res.text);
      await waitFor(down, (e) => e.type === 'u.marker');
      assert.equal(down.events.filter((e) => e.type === 'link.ready').length, 1, 'only the gateway\'s own link.ready');
    } finally {
      c.close();
    }
  });
});

describe('section 3 refusals of uploaded lines', { concurrency: true }, () => {
  test('a line that is not a JSON object is refused malformed_event and the link goes on', async () => {
    refusedOnce(await upload('this is not json\n'), 'malformed_event');
  });

  test('a JSON array line is refused malformed_event', async () => {
    refusedOnce(await upload('[1,2,3]\n'), 'malformed_event');
  });

  test('an event with no type is refused missing_type, naming its id', async () => {
    const err = refusedOnce(await upload(ndjson({ id: 'nt1', data: 1 })), 'missing_type');
    assert.equal(err.data.event, 'nt1');
  });

  test('an event whose type is not a valid name is refused missing_type', async () => {
    refusedOnce(await upload(ndjson({ type: 'has space', id: 'nt2' })), 'missing_type');
  });

  test('an event over 64 KiB is refused event_too_large and skipped to the next line', async () => {
    refusedOnce(await upload(ndjson({ type: 'u.big', data: 'x'.repeat(70_000) })), 'event_too_large');
  });

  test('more than 16 bad lines end the link with a fatal too_many_bad_events', async () => {
    const c = await connect(sys);
    try {
      const guest = await c.newGuest();
      const l = await echoLink(c, guest, 'many-bad');
      l.up.req.write('nope\n'.repeat(17));
      const fatal = await waitFor(l.down, (e) => e.type === 'link.error' && e.data.fatal, 5000);
      assert.equal(fatal?.data.reason, 'too_many_bad_events', JSON.stringify(l.down.events));
    } finally {
      c.close();
    }
  });
});

healthyLinkVerdict(sys);
