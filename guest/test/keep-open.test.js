import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keepOpen } from '../board/keep-open.js';

/** A link whose reading ends (or fails) when the test says. */
function fakeLink(n) {
  let finish = () => {};
  let fail = (/** @type {unknown} */ _) => {};
  const done = new Promise((resolve, reject) => {
    finish = () => resolve(undefined);
    fail = reject;
  });
  return { n, closed: /** @type {unknown} */ (undefined), done, finish, fail, async close(reason) { this.closed = reason ?? 'closed'; finish(); } };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

/** keepOpen over fake links, with its timers held for the test to run. */
function kept(options = {}) {
  const links = [];
  const timers = [];
  const stop = keepOpen(
    () => {
      const link = fakeLink(links.length + 1);
      links.push(link);
      return link;
    },
    (link) => link.done,
    { setTimeout: (fn, ms) => timers.push({ fn, ms }), ...options },
  );
  return { links, timers, stop };
}

test('keepOpen: a link that ends is reported, and another opens after the pause', async () => {
  const ends = [];
  const { links, timers, stop } = kept({ retryMs: 250, onEnd: (link, error) => ends.push([link.n, error]) });
  assert.equal(links.length, 1);
  links[0].finish();
  await tick();
  assert.deepEqual(ends, [[1, undefined]], 'a normal end is reported without an error');
  assert.equal(links.length, 1, 'not reopened at once');
  assert.deepEqual(timers.map((t) => t.ms), [250]);
  timers.shift().fn();
  assert.equal(links.length, 2, 'reopened after the pause');

  links[1].fail(new Error('broke'));
  await tick();
  assert.equal(ends[1][0], 2);
  assert.match(String(ends[1][1]), /broke/, 'a failed read is reported with its error');
  timers.shift().fn();
  assert.equal(links.length, 3);

  stop('bye');
  assert.equal(links[2].closed, 'bye', 'stop closes the link open at the time');
  await tick();
  assert.equal(ends.length, 2, 'an end after stop is not reported');
  assert.equal(timers.length, 0, 'and opens no other');
});

test('keepOpen: stopped while waiting to reopen, it opens nothing', async () => {
  const { links, timers, stop } = kept();
  links[0].finish();
  await tick();
  stop();
  timers.shift().fn();
  assert.equal(links.length, 1);
});
