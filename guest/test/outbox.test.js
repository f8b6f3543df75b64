// The write side's outbox (board/outbox.js) with a store in memory standing in for
// IndexedDB (which the browser tests prove), and the worker's board hub (board/board-hub.js)
// with fake host links.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryOutboxStore, Outbox, connectOutbox, rejection, takeCommands } from '../board/outbox.js';
import { BoardHub } from '../board/board-hub.js';
import { GroupCommit } from '../board/outbox-idb.js';
import { BoardState } from '../board/board-state.js';

/** @typedef {import('../src/index.js').Event} Event */

const cmd = (/** @type {string} */ id, title = id) => ({ type: 'task.add', id, data: { board: 'b', task: `t-${id}`, title } });
const ack = (/** @type {string} */ id, seq = 1) => ({ type: 'ack', id, data: { ack: id, seq } });
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** A sink that records what is sent. */
function recorder() {
  /** @type {string[]} */
  const sent = [];
  return { sent, sink: async (/** @type {Event} */ e) => void sent.push(/** @type {string} */ (e.id)) };
}

test('a command is sent while it is being stored, and leaves the store only when settled', async () => {
  const store = new MemoryOutboxStore();
  /** @type {string[]} */
  const order = [];
  const put = store.put.bind(store);
  /** @type {() => void} */
  let finishPut = () => {};
  store.put = async (r) => {
    order.push(`put ${r.id}`);
    await new Promise((resolve) => (finishPut = () => resolve(undefined)));
    await put(r);
    order.push(`stored ${r.id}`);
  };
  const outbox = new Outbox({ store });
  await outbox.attach(async (e) => void order.push(`send ${e.id}`));
  let answered = false;
  const adding = outbox.add(cmd('c1')).then((r) => ((answered = true), r));
  await tick();
  // Out on the link while the store is still busy; the caller hears "stored" only after.
  assert.deepEqual(order, ['put c1', 'send c1']);
  assert.equal(answered, false);
  assert.equal(outbox.size, 1);
  finishPut();
  assert.deepEqual(await adding, { id: 'c1', stored: true });
  assert.deepEqual(order, ['put c1', 'send c1', 'stored c1']);
  assert.equal(store.records.size, 1);
  /** @type {string[]} */
  const heard = [];
  outbox.onSettled((o, command) => heard.push(`${o.type} ${o.data.ack} ${command?.type}`));
  await outbox.settle(ack('c1'));
  await outbox.settle(ack('c1')); // a repeated ack is ignored
  assert.equal(store.records.size, 0);
  assert.deepEqual(heard, ['ack c1 task.add']);
});

test('an ack that comes back before the store has finished still empties the store', async () => {
  const store = new MemoryOutboxStore();
  const put = store.put.bind(store);
  /** @type {() => void} */
  let finishPut = () => {};
  store.put = async (r) => {
    await new Promise((resolve) => (finishPut = () => resolve(undefined)));
    await put(r);
  };
  const outbox = new Outbox({ store });
  const { sent, sink } = recorder();
  await outbox.attach(sink);
  const adding = outbox.add(cmd('c1'));
  await tick();
  assert.deepEqual(sent, ['c1']);
  // tasks-write answers first; the delete must wait for the put, or the put would bring it back.
  const settling = outbox.settle(ack('c1'));
  await tick();
  assert.equal(outbox.size, 0);
  finishPut();
  await Promise.all([adding, settling]);
  assert.equal(store.records.size, 0);
  // A new worker on the same store finds nothing to send again.
  const next = new Outbox({ store });
  await next.loaded;
  assert.equal(next.size, 0);
});

test('the same command given again while it is being stored is answered once the put is done', async () => {
  const store = new MemoryOutboxStore();
  const put = store.put.bind(store);
  /** @type {() => void} */
  let finishPut = () => {};
  let puts = 0;
  store.put = async (r) => {
    puts++;
    await new Promise((resolve) => (finishPut = () => resolve(undefined)));
    await put(r);
  };
  const outbox = new Outbox({ store });
  const { sent, sink } = recorder();
  await outbox.attach(sink);
  /** @type {string[]} */
  const answered = [];
  const first = outbox.add(cmd('c1')).then((r) => (answered.push('first'), r));
  await tick();
  const again = outbox.add(cmd('c1')).then((r) => (answered.push('again'), r));
  await tick();
  assert.deepEqual(answered, [], 'neither is "stored" before the put is');
  finishPut();
  assert.deepEqual(await Promise.all([first, again]), [
    { id: 'c1', stored: true },
    { id: 'c1', stored: true },
  ]);
  assert.equal(puts, 1);
  assert.deepEqual(sent, ['c1']);
});

test('takeCommands: a burst goes out before its puts finish, answered in order, with a bounded number of puts unfinished', async () => {
  const store = new MemoryOutboxStore();
  const put = store.put.bind(store);
  /** @type {Map<string, () => void>} puts held until the test finishes them, by id */
  const held = new Map();
  store.put = async (r) => {
    await new Promise((resolve) => held.set(r.id, () => resolve(undefined)));
    await put(r);
  };
  const outbox = new Outbox({ store });
  const { sent, sink } = recorder();
  await outbox.attach(sink);
  let taken = 0;
  const commands = (async function* () {
    for (const id of ['c1', 'c2', 'c3', 'c4', 'c5']) {
      taken++;
      yield cmd(id);
    }
  })();
  /** @type {string[]} */
  const answers = [];
  const done = takeCommands(commands, outbox, (r) => void answers.push(`${r.id} ${r.stored}`), { maxStoring: 3 });
  const settle = async () => {
    for (let i = 0; i < 5; i++) await tick();
  };
  await settle();
  // Three out on the link while none is stored yet; the fourth waits for room.
  assert.deepEqual(sent, ['c1', 'c2', 'c3']);
  assert.deepEqual([...held.keys()], ['c1', 'c2', 'c3']);
  assert.ok(taken <= 4, `read at most one command beyond the bound (read ${taken})`);
  assert.deepEqual(answers, []);
  // c2's put finishes first: its answer still waits for c1's, and no room is made yet.
  held.get('c2')?.();
  await settle();
  assert.deepEqual(answers, []);
  assert.deepEqual(sent, ['c1', 'c2', 'c3']);
  held.get('c1')?.();
  await settle();
  assert.deepEqual(answers, ['c1 true', 'c2 true']);
  assert.deepEqual(sent, ['c1', 'c2', 'c3', 'c4', 'c5']);
  for (const id of ['c3', 'c4', 'c5']) held.get(id)?.();
  await done;
  assert.deepEqual(answers, ['c1 true', 'c2 true', 'c3 true', 'c4 true', 'c5 true']);
  assert.equal(store.records.size, 5);
});

test('GroupCommit: what comes while a transaction commits goes in the next one, in order; a failure fails only its own', async () => {
  /** @type {string[][]} */
  const commits = [];
  /** @type {(() => void)[]} */
  const finish = [];
  /** @type {(() => void)[]} */
  const fail = [];
  const writes = new GroupCommit(
    (/** @type {string[]} */ ops) =>
      new Promise((resolve, reject) => {
        commits.push(ops);
        finish.push(() => resolve(undefined));
        fail.push(() => reject(new Error('disk full')));
      }),
    3,
  );
  /** @type {string[]} */
  const heard = [];
  const run = (/** @type {string} */ op) =>
    writes.run(op).then(
      () => void heard.push(`${op} ok`),
      (/** @type {Error} */ e) => void heard.push(`${op} ${e.message}`),
    );
  const all = [run('a')];
  assert.deepEqual(commits, [['a']], 'a lone write goes at once');
  all.push(run('b'), run('c'), run('d'), run('e'));
  await tick();
  assert.deepEqual(commits, [['a']], 'one transaction at a time');
  finish[0]();
  await tick();
  assert.deepEqual(commits, [['a'], ['b', 'c', 'd']], 'the next takes what waited, at most 3');
  fail[1]();
  await tick();
  assert.deepEqual(commits, [['a'], ['b', 'c', 'd'], ['e']]);
  finish[2]();
  await Promise.all(all);
  assert.deepEqual(heard, ['a ok', 'b disk full', 'c disk full', 'd disk full', 'e ok']);
});

test('a rejection settles a command too', async () => {
  const store = new MemoryOutboxStore();
  const outbox = new Outbox({ store });
  await outbox.add(cmd('c1'));
  await outbox.settle(rejection('c1', 'no_such_task', 'gone'));
  assert.equal(outbox.size, 0);
  assert.equal(store.records.size, 0);
});

test('a new worker sends what the last one left, in the order it was stored, before new commands', async () => {
  const store = new MemoryOutboxStore();
  const first = new Outbox({ store });
  for (const id of ['c1', 'c2', 'c3']) await first.add(cmd(id));
  await first.settle(ack('c2'));
  // The worker stops here; a new one starts on the same store.
  const second = new Outbox({ store });
  const { sent, sink } = recorder();
  await second.attach(sink);
  await second.add(cmd('c4'));
  await tick();
  assert.deepEqual(sent, ['c1', 'c3', 'c4']);
  assert.deepEqual(second.pending().map((e) => e.id), ['c1', 'c3', 'c4']);
});

test('a new link gets everything still stored, again, from the oldest; the old one gets nothing more', async () => {
  const outbox = new Outbox({ store: new MemoryOutboxStore() });
  const one = recorder();
  await outbox.attach(one.sink);
  for (const id of ['c1', 'c2']) await outbox.add(cmd(id));
  await tick();
  await outbox.settle(ack('c1'));
  outbox.detach();
  await outbox.add(cmd('c3')); // made while disconnected: stored, not sent
  await tick();
  assert.deepEqual(one.sent, ['c1', 'c2']);
  const two = recorder();
  await outbox.attach(two.sink);
  await tick();
  assert.deepEqual(two.sent, ['c2', 'c3']);
  assert.deepEqual(one.sent, ['c1', 'c2']);
});

test('the same id is stored once; the outbox is bounded and says so', async () => {
  const store = new MemoryOutboxStore();
  const outbox = new Outbox({ store, limit: 2 });
  await outbox.add(cmd('c1'));
  await outbox.add(cmd('c1'));
  await outbox.add(cmd('c2'));
  const full = await outbox.add(cmd('c3'));
  assert.equal(full.stored, false);
  assert.equal(!full.stored && full.outcome.data.reason, 'outbox_full');
  assert.equal(store.records.size, 2);
});

test('commands without an id get one; a command without a valid type is refused, not stored', async () => {
  const outbox = new Outbox({ store: new MemoryOutboxStore() });
  const made = await outbox.add({ type: 'task.add', data: {} });
  assert.match(made.id, /^c-/);
  const bad = await outbox.add(/** @type {any} */ ({ id: 'x', data: {} }));
  assert.equal(bad.stored, false);
  assert.equal(outbox.size, 1);
});

test('a store that fails before the command went out refuses it with a reason', async () => {
  const store = new MemoryOutboxStore();
  store.put = async () => {
    throw new Error('quota');
  };
  const outbox = new Outbox({ store });
  const r = await outbox.add(cmd('c1')); // no link yet: nothing has gone out
  assert.equal(!r.stored && 'outcome' in r && r.outcome.data.reason, 'outbox_failed');
  assert.equal(outbox.size, 0);
  const { sent, sink } = recorder();
  await outbox.attach(sink);
  await tick();
  assert.deepEqual(sent, []);
});

test('a store that fails after the command went out keeps it pending until tasks-write answers', async () => {
  const store = new MemoryOutboxStore();
  store.put = async () => {
    await tick();
    throw new Error('quota');
  };
  const outbox = new Outbox({ store });
  const first = recorder();
  await outbox.attach(first.sink);
  const r = await outbox.add(cmd('c1'));
  assert.deepEqual(first.sent, ['c1']);
  // Not "stored" (the caller keeps holding it), not refused (it may already be applied).
  assert.equal(r.stored, false);
  assert.equal('sent' in r && r.sent, true);
  assert.equal(outbox.size, 1);
  const repeat = await outbox.add(cmd('c1'));
  assert.equal('sent' in repeat && repeat.sent, true, 'given again, it is still not stored');
  // A new link gets it again (tasks-write applies it once), and the ack settles it.
  const second = recorder();
  await outbox.attach(second.sink);
  await tick();
  assert.deepEqual(second.sent, ['c1']);
  await outbox.settle(ack('c1'));
  assert.equal(outbox.size, 0);
});

/** A link whose two ends the test holds. */
function fakeLink() {
  /** @type {Event[]} */
  const written = [];
  /** @type {ReadableStreamDefaultController<Event>} */
  let answer;
  const link = {
    readable: new ReadableStream({ start: (c) => void (answer = c) }),
    writable: new WritableStream({ write: (e) => void written.push(e) }),
    closed: false,
    async close() {
      link.closed = true;
    },
  };
  return { link, written, answer: (/** @type {Event} */ e) => answer.enqueue(e), end: () => answer.close() };
}

test('connectOutbox: the acks are read on while the store deletes what they settled', async () => {
  const store = new MemoryOutboxStore();
  const del = store.delete.bind(store);
  /** @type {(() => void)[]} */
  const deleting = [];
  store.delete = async (id) => {
    await new Promise((resolve) => deleting.push(() => resolve(undefined)));
    await del(id);
  };
  const outbox = new Outbox({ store });
  /** @type {string[]} */
  const heard = [];
  outbox.onSettled((o) => heard.push(o.data.ack));
  const link = fakeLink();
  const stop = connectOutbox(outbox, () => link.link, { setTimeout: () => {} });
  for (const id of ['c1', 'c2', 'c3']) await outbox.add(cmd(id));
  for (const id of ['c1', 'c2', 'c3']) link.answer(ack(id));
  for (let i = 0; i < 5; i++) await tick();
  // A delete is a transaction of its own (IndexedDB: a few ms): the next ack does not wait for
  // it, so the deletes that wait can go in one transaction.
  assert.deepEqual(heard, ['c1', 'c2', 'c3']);
  assert.equal(outbox.size, 0);
  assert.equal(store.records.size, 3, 'no delete has finished yet');
  for (const finish of deleting) finish();
  for (let i = 0; i < 3; i++) await tick();
  assert.equal(store.records.size, 0);
  stop();
});

test('connectOutbox: acks and rejections settle; overloaded is sent again; a refused line is rejected; a dead link is replaced and everything resent', async () => {
  const outbox = new Outbox({ store: new MemoryOutboxStore() });
  const links = [fakeLink(), fakeLink()];
  let opened = 0;
  /** @type {(() => void)[]} */
  const timers = [];
  /** @type {Event[]} */
  const errors = [];
  const stop = connectOutbox(outbox, () => links[opened++].link, {
    setTimeout: (fn) => timers.push(fn),
    onError: (e) => errors.push(e),
  });
  for (const id of ['c1', 'c2', 'c3', 'c4']) await outbox.add(cmd(id));
  await tick();
  const [first, second] = links;
  assert.deepEqual(first.written.map((e) => e.id), ['c1', 'c2', 'c3', 'c4']);
  first.answer(ack('c1'));
  first.answer({ type: 'command.rejected', id: 'c2', data: { ack: 'c2', reason: 'no_such_task', message: 'm' } });
  first.answer({ type: 'link.error', data: { reason: 'overloaded', message: 'busy', fatal: false, event: 'c3' } });
  first.answer({ type: 'link.error', data: { reason: 'event_too_large', message: 'big', fatal: false, event: 'c4' } });
  first.answer({ type: 'link.error', data: { reason: 'connection_lost', message: 'x', fatal: true, reconnect: true } });
  await tick();
  await tick();
  assert.deepEqual(outbox.pending().map((e) => e.id), ['c3']);
  assert.deepEqual(errors.map((e) => /** @type {any} */ (e.data).reason), ['connection_lost']);
  assert.equal(timers.length, 1, 'the overloaded command is sent again after a while');
  timers.shift()?.();
  await tick();
  assert.deepEqual(first.written.map((e) => e.id), ['c1', 'c2', 'c3', 'c4', 'c3']);
  // The link ends for good: another is opened and gets what is still stored.
  await outbox.add(cmd('c5'));
  first.end();
  await tick();
  await tick();
  assert.equal(timers.length, 1);
  timers.shift()?.();
  await tick();
  await tick();
  assert.deepEqual(second.written.map((e) => e.id), ['c3', 'c5']);
  stop();
  assert.equal(second.link.closed, true);
});

// --- the board hub ------------------------------------------------------------------------

function hubWithFakeLinks(historyLimit = 500, timers = /** @type {(() => void)[]} */ ([])) {
  /** @type {Record<string, ReturnType<typeof fakeLink>>} */
  const links = {};
  let opened = 0;
  const hub = new BoardHub({
    board: 'b',
    historyLimit,
    setTimeout: (fn) => void timers.push(fn),
    openLink: (service, params, onStatus) => {
      opened++;
      const l = fakeLink();
      links[service] = l;
      onStatus('open');
      assert.deepEqual(params, { board: 'b' });
      return l.link;
    },
  });
  hub.start();
  return { hub, links, opened: () => opened };
}

/** Reads from a feed until `until` says stop (bounded). */
async function readUntil(/** @type {ReadableStreamDefaultReader<Event>} */ reader, /** @type {(e: Event) => boolean} */ until) {
  /** @type {Event[]} */
  const got = [];
  for (let i = 0; i < 100; i++) {
    const { value, done } = await reader.read();
    if (done) break;
    got.push(value);
    if (until(value)) break;
  }
  return got;
}

test('hub: one link per service for any number of tabs; each tab gets the board, then changes', async () => {
  const { hub, links, opened } = hubWithFakeLinks();
  const a = hub.feed().getReader();
  const b = hub.feed().getReader();
  links.board.answer({ type: 'board.snapshot', seq: 5, data: { board: 'b', tasks: [{ task: 'x', title: 'X', done: false }], complete: false } });
  links.board.answer({ type: 'board.snapshot.more', seq: 5, data: { board: 'b', tasks: [{ task: 'y', title: 'Y', done: false }], complete: true } });
  links.board.answer({ type: 'task.completed', id: 'c9', seq: 7, data: { board: 'b', task: 'y' } });
  // What a tab shows converges to the hub's board whenever it reads (early: the board then
  // the change; late: the board with the change in it).
  for (const reader of [a, b]) {
    const view = new BoardState();
    let shown = view;
    await readUntil(reader, (e) => {
      if (e.type === 'board.state') shown = new BoardState(/** @type {any} */ (e.data).tasks);
      else if (e.type.startsWith('task.')) {
        assert.equal(e.seq, undefined, 'no top-level seq: a new worker starts with a whole board');
        assert.equal(/** @type {any} */ (e.data).seq, 7);
        shown.apply(e.type, e.data);
      }
      return shown.tasks().map((t) => `${t.task}:${t.done}`).join() === 'x:false,y:true';
    });
    assert.deepEqual(shown.tasks().map((t) => t.task), ['x', 'y']);
  }
  assert.equal(opened(), 2);
  assert.deepEqual(hub.state.tasks().map((t) => t.done), [false, true]);
});

test('hub: a tab that does not read holds a position, not a queue, and gets the whole board when it falls behind', async () => {
  const { hub, links } = hubWithFakeLinks(3);
  const slow = hub.feed().getReader();
  links.board.answer({ type: 'board.snapshot', seq: 1, data: { board: 'b', tasks: [], complete: true } });
  await readUntil(slow, (e) => e.type === 'board.state');
  for (let i = 0; i < 10; i++) links.board.answer({ type: 'task.added', id: `c${i}`, seq: 2 + i, data: { board: 'b', task: `t${i}`, title: `${i}` } });
  await tick();
  await tick();
  assert.equal(hub.history.length, 3, 'history bounded');
  const got = await readUntil(slow, (e) => e.type === 'board.state');
  assert.equal(/** @type {any} */ (got.at(-1)?.data).tasks.length, 10);
});

test('hub: presence comes coalesced; close ends the feeds and the links', async () => {
  const { hub, links } = hubWithFakeLinks();
  const r = hub.feed().getReader();
  links.presence.answer({ type: 'presence.snapshot', data: { board: 'b', viewers: [{ viewer: 'me', links: 1 }], you: 'me', complete: true } });
  links.presence.answer({ type: 'presence.joined', data: { board: 'b', viewer: 'other', links: 1 } });
  await tick();
  const got = await readUntil(r, (e) => e.type === 'presence.state');
  const presence = got.filter((e) => e.type === 'presence.state');
  assert.equal(presence.length, 1, 'two presence changes, one event for a tab that read late');
  assert.equal(/** @type {any} */ (presence[0].data).viewers.length, 2);
  hub.close();
  assert.deepEqual(await r.read(), { value: undefined, done: true });
  assert.equal(links.board.link.closed && links.presence.link.closed, true);
});

test('hub: a host link that ends for good is reported to the tabs and opened again, with the board kept', async () => {
  /** @type {(() => void)[]} */
  const timers = [];
  const { hub, links, opened } = hubWithFakeLinks(500, timers);
  const r = hub.feed().getReader();
  links.board.answer({ type: 'board.snapshot', seq: 3, data: { board: 'b', tasks: [{ task: 'x', title: 'x' }], complete: true } });
  await readUntil(r, (e) => e.type === 'board.state');
  const first = links.board;
  first.end(); // the download ended with no link.error: the link is closed for good
  const got = await readUntil(r, (e) => e.type === 'board.error');
  assert.deepEqual(
    got.filter((e) => e.type === 'board.error').map((e) => [/** @type {any} */ (e.data).reason, /** @type {any} */ (e.data).link]),
    [['link_ended', 'board']],
  );
  assert.equal(opened(), 2, 'not reopened at once');
  assert.equal(timers.length, 1);
  timers.shift()?.();
  assert.equal(opened(), 3, 'reopened after the wait');
  assert.notEqual(links.board, first);
  assert.deepEqual(hub.state.tasks().map((t) => t.task), ['x'], 'the board is kept meanwhile');
  links.board.answer({ type: 'task.added', id: 'c1', seq: 4, data: { board: 'b', task: 'y', title: 'y' } });
  const more = await readUntil(r, (e) => e.type === 'task.added');
  assert.equal(more.at(-1)?.type, 'task.added', 'the new link feeds the tabs');
  hub.close();
  assert.equal(links.board.link.closed, true);
  assert.equal(timers.length, 0, 'nothing scheduled after close');
});
