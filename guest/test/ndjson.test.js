import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEvents, encodeEvents, utf8Length } from '../src/ndjson.js';
import { collect, streamOf, utf8 } from './support/streams.js';

/** Decodes `chunks` (strings or byte arrays) and returns every event out. */
function decode(chunks, options) {
  const bytes = chunks.map((c) => (typeof c === 'string' ? utf8.encode(c) : c));
  return collect(streamOf(...bytes).pipeThrough(decodeEvents(options)));
}

const reasons = (events) => events.map((e) => (e.type === 'link.error' ? e.data.reason : e.type));

test('decodes lines split at every byte, including inside a multi-byte character', async () => {
  const text = '{"type":"a.b","id":"x1","seq":1,"data":{"t":"h\u00e9llo \u{1F600}"}}\n{"type":"c","seq":2}\n';
  const bytes = utf8.encode(text);
  const oneByteChunks = [...bytes].map((b) => Uint8Array.of(b));
  const events = await decode(oneByteChunks);
  assert.deepEqual(events, [
    { type: 'a.b', id: 'x1', seq: 1, data: { t: 'h\u00e9llo \u{1F600}' } },
    { type: 'c', seq: 2 },
  ]);
});

test('decodes several events in one chunk, tolerates CRLF and blank lines, reads a last line without newline', async () => {
  const events = await decode(['{"type":"a"}\r\n\n  \n{"type":"b"}\n{"type":"c"}']);
  assert.deepEqual(reasons(events), ['a', 'b', 'c']);
});

test('drops fields outside the envelope', async () => {
  const [event] = await decode(['{"type":"a","extra":1,"data":null}\n']);
  assert.deepEqual(event, { type: 'a', data: null });
});

test('an oversize line is skipped up to the next newline and reported once, the next event survives', async () => {
  const max = 100;
  const big = '{"type":"big","data":"' + 'x'.repeat(500) + '"}';
  // Split the big line over many chunks, the last one carrying the newline and a good event.
  const chunks = ['{"type":"before"}\n'];
  for (let i = 0; i < big.length; i += 37) chunks.push(big.slice(i, i + 37));
  chunks.push('\n{"type":"after"}\n');
  const events = await decode(chunks, { maxEventBytes: max });
  assert.deepEqual(reasons(events), ['before', 'event_too_large', 'after']);
  assert.equal(events[1].data.fatal, false);
});

test('the size limit counts the newline: max-1 bytes plus newline pass, max bytes plus newline do not', async () => {
  const line = (n) => {
    const head = '{"type":"a","data":"';
    return head + 'y'.repeat(n - head.length - 2) + '"}';
  };
  assert.equal(utf8.encode(line(99)).length, 99);
  const ok = await decode([line(99) + '\n'], { maxEventBytes: 100 });
  assert.deepEqual(reasons(ok), ['a']);
  const tooBig = await decode([line(100) + '\n'], { maxEventBytes: 100 });
  assert.deepEqual(reasons(tooBig), ['event_too_large']);
});

test('an oversize last line without newline is reported, not parsed', async () => {
  const events = await decode(['{"type":"a"}\n', '{"type":"b","data":"' + 'z'.repeat(200)], { maxEventBytes: 64 });
  assert.deepEqual(reasons(events), ['a', 'event_too_large']);
});

test('malformed lines become non-fatal link.error events in place and the stream goes on', async () => {
  const events = await decode([
    'not json\n',
    '[1,2]\n',
    '{"data":1,"id":"w7"}\n',
    '{"type":"has space"}\n',
    '{"type":"a","seq":0}\n',
    '{"type":"a","id":5}\n',
    Uint8Array.of(0x7b, 0xff, 0x7d, 0x0a),
    '{"type":"ok"}\n',
  ]);
  assert.deepEqual(reasons(events), [
    'malformed_event',
    'malformed_event',
    'missing_type',
    'missing_type',
    'malformed_event',
    'malformed_event',
    'malformed_event',
    'ok',
  ]);
  assert.equal(events[2].data.event, 'w7', 'names the refused event when its id can be read');
  for (const e of events.slice(0, -1)) assert.equal(e.data.fatal, false);
});

test('encoder coalesces every queued event into one chunk', async () => {
  const { readable, writable } = encodeEvents();
  const writer = writable.getWriter();
  for (let i = 0; i < 10; i++) await writer.write({ type: 'e', seq: i + 1 });
  const reader = readable.getReader();
  const { value } = await reader.read();
  const lines = new TextDecoder().decode(value).split('\n');
  assert.equal(lines.length, 11, 'ten lines and the empty rest after the last newline');
  assert.deepEqual(JSON.parse(lines[9]), { type: 'e', seq: 10 });
  writer.close();
  assert.equal((await reader.read()).done, true);
});

test('encoder sends an event at once when the reader is waiting', async () => {
  const { readable, writable } = encodeEvents();
  const reader = readable.getReader();
  const pending = reader.read();
  const writer = writable.getWriter();
  await writer.write({ type: 'solo' });
  const { value } = await pending;
  assert.equal(new TextDecoder().decode(value), '{"type":"solo"}\n');
});

test('encoder: the writes of one task reach an eager reader in two chunks, the first at once', async () => {
  const { readable, writable } = encodeEvents();
  /** @type {number[]} events per chunk */
  const chunks = [];
  const reading = (async () => {
    for await (const chunk of readable) chunks.push(new TextDecoder().decode(chunk).split('\n').length - 1);
  })();
  const writer = writable.getWriter();
  // A write loop: each write resolves in a microtask, so all 60 are one task.
  for (let i = 0; i < 60; i++) await writer.write({ type: 'e', seq: i + 1 });
  await writer.close();
  await reading;
  assert.equal(chunks.reduce((a, b) => a + b, 0), 60);
  assert.equal(chunks[0], 1, 'the first event was not held back');
  assert.ok(chunks.length <= 2, `60 writes of one task in ${chunks.length} chunks: ${chunks}`);
});

test('encoder bounds its queue: a write waits once maxBatchEvents are queued, until a read', async () => {
  const { readable, writable } = encodeEvents({ maxBatchEvents: 4 });
  const writer = writable.getWriter();
  for (let i = 0; i < 3; i++) await writer.write({ type: 'e' });
  let fourthDone = false;
  const fourth = writer.write({ type: 'e' }).then(() => (fourthDone = true));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(fourthDone, false, 'the fourth write waits for room');
  const reader = readable.getReader();
  const { value } = await reader.read();
  await fourth;
  assert.equal(new TextDecoder().decode(value).split('\n').length - 1, 4);
});

test('cancelling the encoded stream fails a write waiting for room', async () => {
  const { readable, writable } = encodeEvents({ maxBatchEvents: 1 });
  const writer = writable.getWriter();
  const waiting = writer.write({ type: 'e' });
  await readable.cancel(new Error('gone'));
  await assert.rejects(waiting, /gone/);
});

test('encode then decode is the identity on valid events', async () => {
  const events = Array.from({ length: 50 }, (_, i) => ({ type: 'x.y', id: `i${i}`, seq: i + 1, data: { n: i, s: '\u00fc\n' } }));
  const { readable, writable } = encodeEvents({ maxBatchEvents: 7 });
  const out = collect(readable.pipeThrough(decodeEvents()));
  await streamOf(...events).pipeTo(writable);
  assert.deepEqual(await out, events);
});

test('utf8Length counts what TextEncoder writes, for every width of character', () => {
  const samples = [
    '',
    'plain ascii\n',
    'é ß ø', // 2 bytes each
    '€ 中文 ｶﾀｶﾅ', // 3 bytes each
    '😀 𝄞 👩‍👩‍👧', // surrogate pairs: 4 bytes each, and a joiner (3)
    JSON.stringify({ lone: '\ud800', other: '\udfff' }), // JSON escapes lone surrogates
    '\u007f\u0080\u07ff\u0800\uffff',
  ];
  for (const text of samples) assert.equal(utf8Length(text), new TextEncoder().encode(text).length, JSON.stringify(text));
});
