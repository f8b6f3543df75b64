import { test } from 'node:test';
import assert from 'node:assert/strict';
import { frame, unframe } from '../src/frames.js';
import { collect, countingSource, delay, streamOf } from './support/streams.js';

const ev = (n) => ({ type: 'n', data: n });

test('frame: events in arrays, in order; unframe gives them back one by one', async () => {
  const framed = await collect(frame(streamOf(ev(1), ev(2), ev(3), ev(4))));
  assert.ok(framed.every(Array.isArray));
  assert.deepEqual(framed.flat(), [ev(1), ev(2), ev(3), ev(4)]);
  assert.ok(framed.length < 4, `coalesced: ${framed.length} arrays`);
  const flat = await collect(streamOf([ev(1), ev(2)], ev(3), [ev(4)]).pipeThrough(unframe()));
  assert.deepEqual(flat, [ev(1), ev(2), ev(3), ev(4)]);
});

test('frame: reads ahead of an idle reader by at most `max` events, and each read takes them all', async () => {
  const source = countingSource();
  const reader = frame(source.stream, 8).getReader();
  await delay(50);
  assert.ok(source.pulls <= 9, `pulled ${source.pulls}`);
  const { value } = await reader.read();
  assert.equal(value.length, 8);
  assert.deepEqual(value.map((e) => e.data), [1, 2, 3, 4, 5, 6, 7, 8]);
  await reader.cancel('done');
  assert.equal(source.cancelled, 'done', 'cancel reaches the source');
});

test('frame: a failure comes after the events read before it', async () => {
  let pulls = 0;
  const failing = new ReadableStream(
    {
      pull(c) {
        if (++pulls === 1) c.enqueue(ev(1));
        else c.error(new Error('broke'));
      },
    },
    { highWaterMark: 0 },
  );
  const reader = frame(failing).getReader();
  await delay(20);
  assert.deepEqual((await reader.read()).value, [ev(1)]);
  await assert.rejects(reader.read(), /broke/);
});
