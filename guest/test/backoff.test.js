import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from '../src/backoff.js';

test('backoff: each failure doubles the cap up to maxMs, the jitter fills its upper half, reset starts over', () => {
  const draws = [0, 0.999999, 0.5, 0, 0, 0, 0];
  const backoff = new Backoff({ initialMs: 100, maxMs: 1000, random: () => /** @type {number} */ (draws.shift()) });
  const delays = Array.from({ length: 6 }, () => Math.round(backoff.next()));
  assert.deepEqual(delays, [50, 200, 300, 400, 500, 500]);
  assert.equal(backoff.failures, 6);
  backoff.reset();
  assert.equal(backoff.next(), 50, 'from the first delay again');
});

test('backoff defaults: 250 ms first, never over 30 s', () => {
  const backoff = new Backoff({ random: () => 0.999999 });
  assert.equal(Math.round(backoff.next()), 250);
  for (let i = 0; i < 40; i++) assert.ok(backoff.next() <= 30_000);
  assert.throws(() => new Backoff({ initialMs: 0 }), RangeError);
});
