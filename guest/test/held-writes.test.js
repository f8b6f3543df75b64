// HeldWrites: what a link and a session hold until acknowledged (src/held-writes.js).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HeldWrites } from '../src/held-writes.js';

/** @typedef {{id: string | undefined, size: number, sent: 'no' | 'inflight' | 'yes'}} W */

/** @param {(string | undefined)[]} ids @param {number} [size] */
function held(ids, size = 10) {
  /** @type {HeldWrites<W>} */
  const writes = new HeldWrites();
  for (const id of ids) writes.add({ id, size, sent: 'no' });
  return writes;
}

/** @param {HeldWrites<W>} writes */
const ids = (writes) => [...writes.takeUnsent(Infinity)].map((w) => w.id);

test('writes go out oldest first, each once, until a new connection sends the sent ones again', () => {
  const writes = held(['a', 'b', 'c', 'd']);
  const first = writes.takeUnsent(2);
  assert.deepEqual(first.map((w) => w.id), ['a', 'b']);
  assert.deepEqual(writes.takeUnsent(2).map((w) => w.id), ['a', 'b'], 'not sent until marked');
  for (const w of first) w.sent = 'yes';
  assert.deepEqual(ids(writes), ['c', 'd']);
  writes.resendSent();
  assert.deepEqual(ids(writes), ['a', 'b', 'c', 'd']);
});

test('an acknowledgement lets go of its write wherever it is, and the next unsent one is still found', () => {
  const writes = held(['a', 'b', 'c', 'd']);
  for (const w of writes.takeUnsent(3)) w.sent = 'yes';
  assert.deepEqual(ids(writes), ['d']);
  assert.equal(writes.settle('a'), true, 'the oldest');
  assert.equal(writes.settle('c'), true, 'one in the middle');
  assert.equal(writes.settle('c'), false, 'once');
  assert.equal(writes.settle('zz'), false, 'never held');
  assert.equal(writes.length, 2);
  assert.equal(writes.bytes, 20);
  assert.deepEqual(ids(writes), ['d'], 'the cursor moved with the writes before it');
  writes.add({ id: 'e', size: 10, sent: 'no' });
  assert.deepEqual(ids(writes), ['d', 'e']);
});

test('a batch stops at its count or its bytes, but a first write larger than the bytes still goes alone', () => {
  /** @type {HeldWrites<W>} */
  const writes = new HeldWrites();
  writes.add({ id: 'big', size: 500, sent: 'no' });
  for (const id of ['a', 'b', 'c']) writes.add({ id, size: 40, sent: 'no' });
  assert.deepEqual(writes.takeUnsent(10, 100).map((w) => w.id), ['big']);
  writes.settle('big');
  assert.deepEqual(writes.takeUnsent(10, 100).map((w) => w.id), ['a', 'b']);
  assert.deepEqual(writes.takeUnsent(1, 1000).map((w) => w.id), ['a']);
});

test('a request whose outcome failed makes its writes unsent again, ahead of the later ones', () => {
  const writes = held(['a', 'b', 'c']);
  const batch = writes.takeUnsent(2);
  for (const w of batch) w.sent = 'inflight';
  for (const w of writes.takeUnsent(10)) w.sent = 'yes';
  for (const w of batch) w.sent = 'no';
  writes.mayHaveUnsent();
  assert.deepEqual(ids(writes), ['a', 'b']);
  assert.equal(writes.anySent(), true, 'c went out');
});

test('sent writes without an id are dropped (nothing will acknowledge them); unsent ones are kept', () => {
  const writes = held(['a', undefined, 'b', undefined]);
  const sent = writes.takeUnsent(3);
  for (const w of sent) w.sent = 'yes';
  writes.forgetUnidentified(sent);
  assert.equal(writes.length, 3);
  assert.equal(writes.identified(), 2);
  assert.equal(writes.bytes, 30, 'bytes follow what is held');
  assert.deepEqual(ids(writes), [undefined]);
});

test('full: at the count, or past the bytes; one write alone always fits', () => {
  const writes = held(['a', 'b'], 40);
  assert.equal(writes.full(10, 3, 100), false);
  assert.equal(writes.full(30, 3, 100), true, 'past the bytes');
  assert.equal(writes.full(1, 2, 100), true, 'at the count');
  writes.clear();
  assert.equal(writes.length, 0);
  assert.equal(writes.full(10_000, 3, 100), false, 'alone');
});
