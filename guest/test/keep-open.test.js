import { test } from 'node:test';
import assert from 'node:assert/strict';
import { keepOpen } from '../board/keep-open.js';

/** A link whose reading ends (or fails) when the test says. */
function fakeLink(n) {
  let finish = (/** @type {unknown} */ _) => {};
  let fail = (/** @type {unknown} */ _) => {};
  const done = new Promise((resolve, reject) => {
    finish = (outcome) => resolve(outcome);
    fail = reject;
  });
  return {
    n,
    closed: /** @type {unknown} */ (undefined),
    done,
    /** @param {{served?: boolean, terminal?: boolean}} [outcome] */
    finish: (outcome) => finish(outcome),
    fail,
    async close(reason) { this.closed = reason ?? 'closed'; finish(); },
  };
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
    { setTimeout: (fn, ms) => timers.push({ fn, ms }), random: () => 1, ...options },
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

test('keepOpen: the pause grows while links end without serving, and starts over after one that served', async () => {
  const { links, timers } = kept({ retryMs: 100 });
  for (const expected of [100, 200, 400, 800]) {
    links.at(-1).finish();
    await tick();
    assert.equal(timers.at(-1).ms, expected);
    timers.shift().fn();
  }
  links.at(-1).finish({ served: true });
  await tick();
  assert.equal(timers.at(-1).ms, 100, 'a link that served resets the pause');
});

test('keepOpen: a link that ends terminally is reported and not reopened', async () => {
  const ends = [];
  const { links, timers } = kept({ onEnd: (link) => ends.push(link.n) });
  links[0].finish({ terminal: true });
  await tick();
  assert.deepEqual(ends, [1]);
  assert.equal(timers.length, 0, 'no other link is opened');
});
