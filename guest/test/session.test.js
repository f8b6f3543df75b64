import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { GuestWorker, ViewSession, openBridge, pingWorker, REALM_INSTANCE_FOR_TESTS } from './support/realm-exports.js';
import { delay, until } from './support/streams.js';

const realmScript = new URL('./support/echo-realm.js', import.meta.url);
const ack = (/** @type {any} */ e) => (e.type === 'echo' ? e.id : undefined);

/** A watched worker thread that `restart()` replaces with a new one (a new realm). */
function threadWorker(t, firstData, { pingIntervalMs = 0, pingTimeoutMs = 500 } = {}) {
  let data = firstData;
  let worker = new Worker(realmScript, { workerData: data });
  const watch = new GuestWorker({ target: () => worker, pingIntervalMs, pingTimeoutMs });
  t.after(async () => {
    watch.close();
    await worker.terminate();
  });
  return {
    watch,
    /** Stops this realm and starts another: as a browser stops and restarts a service worker. */
    async restart(nextData) {
      data = nextData;
      await worker.terminate();
      worker = new Worker(realmScript, { workerData: data });
    },
  };
}

/** Reads a session into `seen` until `predicate` matches (bounded). */
async function readUntil(reader, seen, predicate, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const { value, done } = await Promise.race([
      reader.read(),
      delay(Math.max(1, deadline - Date.now())).then(() => {
        throw new Error(`timed out; saw ${JSON.stringify(seen)}`);
      }),
    ]);
    if (done) throw new Error(`ended; saw ${JSON.stringify(seen)}`);
    seen.push(value);
    if (predicate(value)) return value;
  }
}

test('the bridge handshake names the answering realm, and pings answer with it', async (t) => {
  const { watch } = threadWorker(t, {});
  const target = await watch.target();
  const bridge = await openBridge(target, new ReadableStream(), { name: 'echo', hello: { resumeAfter: 7 } });
  const first = await bridge.readable.getReader().read();
  assert.deepEqual(first.value, { type: 'run.started', data: { resumeAfter: 7, params: null } });
  assert.match(bridge.instance, /^[0-9a-f]{32}$/);
  assert.notEqual(bridge.instance, REALM_INSTANCE_FOR_TESTS, 'the thread is a realm of its own');
  assert.equal(await pingWorker(target), bridge.instance);
  assert.equal(await watch.check(), bridge.instance);
});

test('a restarted worker: the session reconnects, resends unacknowledged writes, drops replays', async (t) => {
  // The first realm never answers writes 4 and up: they are in flight when it is stopped.
  const w = threadWorker(t, { swallowFrom: 4 });
  const statuses = [];
  const session = new ViewSession({
    worker: w.watch,
    service: 'echo',
    ackMatcher: ack,
    stallMs: 200,
    backoffInitialMs: 10,
    random: () => 0,
    params: { board: 'b1' },
    onStatus: (s) => statuses.push(s.bridge),
  });
  t.after(() => session.close());
  await session.opened;
  const firstInstance = session.instance;
  const reader = session.readable.getReader();
  const writer = session.writable.getWriter();
  const seen = [];
  const started = await readUntil(reader, seen, (e) => e.type === 'run.started');
  assert.deepEqual(started.data, { resumeAfter: null, params: { board: 'b1' } });
  for (let n = 1; n <= 6; n++) await writer.write({ type: 'write', id: `w${n}`, seq: n, data: { n } });
  await readUntil(reader, seen, (e) => e.seq === 3);
  await delay(50);
  assert.equal(session.unacknowledged, 3, 'w4..w6 held');

  await w.restart({ replayFirst: true });
  // Writes unanswered for stallMs make the session ping: a new instance answers.
  const lost = await readUntil(reader, seen, (e) => e.type === 'link.error');
  assert.equal(lost.data.reason, 'worker_lost');
  assert.equal(lost.data.reconnect, true);
  assert.equal(lost.data.retryInMs, 5, 'the shared backoff, with the injected random: half the first delay');
  const again = await readUntil(reader, seen, (e) => e.type === 'run.started');
  assert.deepEqual(again.data, { resumeAfter: 3, params: { board: 'b1' } }, 'the new run resumes after the last seq seen');
  await readUntil(reader, seen, (e) => e.seq === 6);
  assert.notEqual(session.instance, firstInstance);
  const echoes = seen.filter((e) => e.type === 'echo');
  assert.deepEqual(
    echoes.map((e) => e.seq),
    [1, 2, 3, 4, 5, 6],
    'every write once, in order; the replay of 3 dropped',
  );
  await until(() => session.unacknowledged === 0, 2000, 'all acknowledged');
  assert.deepEqual(statuses.slice(0, 4), ['connecting', 'open', 'reconnecting', 'open']);
});

test('a worker that does not answer pings is reported lost and replaced', async (t) => {
  const { watch: real } = threadWorker(t, {}, { pingTimeoutMs: 5000 });
  await real.check(); // the thread is up
  // A worker gone for good (a crashed dedicated worker): pings go nowhere.
  const stuck = { postMessage() {} };
  let replaced = false;
  const watch = new GuestWorker({
    target: () => (replaced ? real.target() : stuck),
    replace: () => (replaced = true),
    pingIntervalMs: 0,
    pingTimeoutMs: 100,
  });
  t.after(() => watch.close());
  const reports = [];
  watch.watch((instance) => reports.push(instance));
  assert.equal(await watch.check(), undefined, 'no answer: lost');
  assert.equal(replaced, true, 'the lost worker was replaced');
  assert.match(String(await watch.check()), /^[0-9a-f]{32}$/, 'the replacement answers');
  assert.equal(reports.length, 2);
  assert.equal(reports[0], undefined);
});

test('periodic pings: at the interval, without being asked', async (t) => {
  const { watch: real } = threadWorker(t, {});
  const watch = new GuestWorker({ target: () => real.target(), pingIntervalMs: 50 });
  t.after(() => watch.close());
  const reports = [];
  watch.watch((instance) => reports.push(instance));
  await until(() => reports.length >= 3, 3000, 'three pings');
  assert.equal(new Set(reports).size, 1, 'the same live instance each time');
});

test('a refused connection fails `opened` and ends the session with a fatal link.error', async (t) => {
  const { watch } = threadWorker(t, {});
  const session = new ViewSession({ worker: watch, service: 'nope' });
  await assert.rejects(session.opened, /no guest service named nope/);
  const reader = session.readable.getReader();
  const { value } = await reader.read();
  assert.equal(value.data.reason, 'service_refused');
  assert.equal(value.data.fatal, true);
  assert.equal((await reader.read()).done, true);
  assert.equal(session.status.bridge, 'closed');
});

test('backpressure: a session holds at most maxPending writes for a worker that does not answer', async (t) => {
  const w = threadWorker(t, { swallowFrom: 1 });
  const session = new ViewSession({ worker: w.watch, service: 'echo', ackMatcher: ack, maxPending: 8, stallMs: 60_000 });
  t.after(() => session.close());
  await session.opened;
  const writer = session.writable.getWriter();
  let written = 0;
  void (async () => {
    for (let n = 1; n <= 100; n++) {
      await writer.write({ type: 'write', id: `w${n}`, seq: n, data: { n } });
      written = n;
    }
  })().catch(() => {});
  await delay(200);
  assert.ok(written <= 9, `writes stop at the limit: ${written}`);
  assert.equal(session.unacknowledged, 8);
});

test('writes the view makes in one task cross the bridge in two arrays: the first at once, the rest together', async (t) => {
  // The worker side answers each chunk it reads with echoes marked with that chunk's number.
  const w = threadWorker(t, { recordChunks: true });
  const session = new ViewSession({ worker: w.watch, service: 'chunks', ackMatcher: ack });
  t.after(() => session.close());
  await session.opened;
  const reader = session.readable.getReader();
  // Read first: from here on the session knows the worker reads arrays (frames.js).
  assert.equal((await reader.read()).value?.type, 'run.started');
  const writer = session.writable.getWriter();
  // An app's write loop: each write resolves in a microtask, so all 60 are one task.
  for (let n = 1; n <= 60; n++) await writer.write({ type: 'write', id: `w${n}`, seq: n, data: { n } });
  /** @type {any[]} */
  const seen = [];
  await readUntil(reader, seen, (e) => e.id === 'w60');
  assert.deepEqual(seen.map((e) => e.id), Array.from({ length: 60 }, (_, i) => `w${i + 1}`), 'each once, in order');
  const sizes = [...new Map(seen.map((e) => [e.data.chunk, e.data.size])).values()];
  assert.equal(sizes[0], 1, 'the first write was not held back');
  assert.ok(sizes.length <= 2, `60 writes of one task in ${sizes.length} arrays: ${sizes}`);
  assert.equal(session.unacknowledged, 0);
});

test('a bad write from the view is rejected, saying what is wrong and allowed; the next write still arrives', async (t) => {
  const { watch } = threadWorker(t, {});
  const statuses = [];
  const session = new ViewSession({ worker: watch, service: 'echo', ackMatcher: ack, onStatus: (s) => statuses.push(s.bridge) });
  t.after(() => session.close());
  await session.opened;
  const reader = session.readable.getReader();
  const writer = session.writable.getWriter();
  const seen = [];
  await readUntil(reader, seen, (e) => e.type === 'run.started');
  await assert.rejects(writer.write({ type: 'bad type!', id: 'b1' }), (error) => {
    assert.ok(error instanceof TypeError);
    assert.equal(error.message, 'event not sent: "type" must be 1-128 characters of A-Z a-z 0-9 _ - . (got "bad type!")');
    assert.equal(error.reason, 'missing_type');
    assert.equal(error.event, 'b1');
    return true;
  });
  await assert.rejects(writer.write({ type: 'write', id: 7 }), /"id" must be a string of at most 128 characters \(got 7\)/);
  await assert.rejects(writer.write(/** @type {any} */ ('text')), /an event must be an object/);
  await writer.write({ type: 'write', id: 'w1', seq: 1, data: { n: 1 } });
  const echo = await readUntil(reader, seen, (e) => e.type === 'echo');
  assert.equal(echo.id, 'w1');
  await until(() => session.unacknowledged === 0, 2000, 'the good write acknowledged');
  assert.equal(session.status.bridge, 'open');
  assert.deepEqual(statuses, ['connecting', 'open']);
});

test('a bad event piped into the session is skipped with a non-fatal link.error; the pipe goes on', async (t) => {
  const { watch } = threadWorker(t, {});
  const session = new ViewSession({ worker: watch, service: 'echo', ackMatcher: ack });
  t.after(() => session.close());
  await session.opened;
  const reader = session.readable.getReader();
  const events = [
    { type: 'write', id: 'w1', seq: 1, data: { n: 1 } },
    { type: 'no good', id: 'x1' },
    { type: 'write', id: 'x2', seq: 0, data: { n: 0 } },
    { type: 'write', id: 'w2', seq: 2, data: { n: 2 } },
  ];
  const piped = new ReadableStream({ pull: (c) => (events.length ? c.enqueue(events.shift()) : c.close()) }).pipeTo(
    session.writable,
    { preventClose: true },
  );
  const seen = [];
  await readUntil(reader, seen, (e) => e.type === 'echo' && e.id === 'w2');
  await piped;
  const refusals = seen.filter((e) => e.type === 'link.error').map((e) => [e.data.reason, e.data.event, e.data.fatal]);
  assert.deepEqual(refusals, [
    ['missing_type', 'x1', false],
    ['malformed_event', 'x2', false],
  ]);
  assert.deepEqual(seen.filter((e) => e.type === 'echo').map((e) => e.id), ['w1', 'w2']);
});
