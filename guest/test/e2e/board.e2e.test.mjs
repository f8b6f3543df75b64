// The task board end to end: Debian's Chromium against the whole system started the way the
// README starts it (.ci/start, through support/system.mjs; EVENTPATHS_TOPOLOGY=prod-like runs
// the same tests on two instances of everything). Every test checks what the pages show
// against tasks-write's log, read over a real host link: every accepted change exactly
// once, nothing lost, nothing twice.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startSystem } from './support/system.mjs';
import { launchBrowser } from './support/browser.mjs';
import { assertBoardsMatchLog, eventually, onScreen, openBoard, pageState, sentCount, shown, startChurn, stopChurn, waitLive } from './support/board.mjs';

/** @type {Awaited<ReturnType<typeof startSystem>>} */
let system;
/** @type {Awaited<ReturnType<typeof launchBrowser>>} */
let alice;
/** @type {Awaited<ReturnType<typeof launchBrowser>>} */
let bob;

before(async () => {
  // The system first: with two instances of everything (EVENTPATHS_TOPOLOGY=prod-like) its
  // JVMs take both cores while they start, and a browser launched meanwhile can time out.
  system = await startSystem();
  [alice, bob] = await Promise.all([launchBrowser(), launchBrowser()]);
});
after(async () => {
  await Promise.all([alice?.dispose(), bob?.dispose()]);
  await system?.stop();
});

const unique = (/** @type {string} */ name) => `${name}-${Date.now().toString(36)}`;

describe('the local system (.ci/start)', () => {
  test('only the gateway listens beyond loopback', {
    skip: process.env.EVENTPATHS_TOPOLOGY === 'prod-like' && 'there each instance listens in its own network namespace',
  }, () => {
    const sockets = execFileSync('ss', ['-ltnpH'], { encoding: 'utf8' }).split('\n');
    for (const name of ['tasks-write', 'tasks-read', 'presence-read', 'echo']) {
      for (const instance of system.instances(name)) {
        const mine = sockets.filter((l) => l.includes(`pid=${/** @type {any} */ (instance).pid},`));
        assert.ok(mine.length > 0, `${name} (pid ${/** @type {any} */ (instance).pid}) listens on no TCP port:\n${sockets.join('\n')}`);
        for (const line of mine) {
          const local = line.trim().split(/\s+/)[3];
          assert.match(local, /^(127\.0\.0\.1|\[::1\]|\[::ffff:127\.0\.0\.1\]):\d+$/, `${name} listens on ${local}`);
        }
      }
    }
  });
});

describe('the task board', () => {
  test('two browsers see each other within a second; a second tab shares its worker', { timeout: 60_000 }, async () => {
    const board = unique('two');
    const a = await openBoard(alice, system.origin, board);
    const b = await openBoard(bob, system.origin, board);

    // A first change warms the path up (class loading, JIT in freshly started JVMs on a
    // shared 2-core machine); the changes after it are the ones timed.
    await a.evaluate(() => /** @type {any} */ (window).__board.addTask('warm-up'));
    await eventually(async () => (await shown(b)).length === 1, 15_000, 'the warm-up change');
    // Alice's list shows her own change once her board hears it from the read side and draws
    // it, which can be after Bob's: the removal below reads her list.
    await eventually(async () => (await shown(a)).length === 1, 15_000, 'the warm-up change on Alice\'s board');
    await a.evaluate(() => {
      const w = /** @type {any} */ (window);
      w.__board.command('task.remove', { task: w.__board.tasks()[0].task });
    });
    await eventually(async () => (await shown(b)).length === 0, 15_000, 'the warm-up removal');

    // What Alice's status says about changes waiting to be sent, from now on: on a live link
    // nothing (each change waits there a few ms for its ack; announcing that would flash the
    // status and a screen reader would read it out every time).
    await a.evaluate(() => {
      const w = /** @type {any} */ (window);
      const pending = /** @type {HTMLElement} */ (document.getElementById('pending'));
      w.__pendingSaid = [];
      new MutationObserver(() => {
        if (pending.textContent) w.__pendingSaid.push(pending.textContent);
      }).observe(pending, { childList: true, characterData: true, subtree: true });
    });

    // Alice adds with the keyboard; Bob sees it within a second.
    await a.fill('#add-title', 'buy milk');
    let t0 = Date.now();
    await a.press('#add-title', 'Enter');
    await b.waitForFunction(() => /** @type {any} */ (window).__board.tasks().some((/** @type {any} */ t) => t.title === 'buy milk'), null, { timeout: 1000, polling: 10 });
    const toBob = Date.now() - t0;

    // Bob completes it by keyboard (focus the checkbox, Space); Alice sees it within a second.
    await b.focus('li.task .done');
    t0 = Date.now();
    await b.keyboard.press('Space');
    await a.waitForFunction(() => /** @type {any} */ (window).__board.tasks()[0]?.done === true, null, { timeout: 1000, polling: 10 });
    const toAlice = Date.now() - t0;

    // More of the UI, by keyboard: a second task, moved up with Alt+ArrowUp, renamed with F2.
    await a.fill('#add-title', 'walk dog');
    await a.press('#add-title', 'Enter');
    await eventually(async () => (await shown(b)).length === 2, 5000, 'the second task');
    // Alice acts by position on what her screen shows, which is drawn a frame after her board
    // hears the change (and may hear it after Bob does): wait for it, or F2 renames another task.
    await eventually(async () => (await onScreen(a))[1] === 'walk dog', 5000, 'the second task on Alice\'s screen');
    await a.focus('li.task:nth-child(2)');
    await a.keyboard.press('Alt+ArrowUp');
    await eventually(async () => (await shown(b))[0]?.title === 'walk dog', 5000, 'the move to reach Bob');
    await eventually(async () => (await onScreen(a))[0] === 'walk dog', 5000, 'the move on Alice\'s screen');
    await a.focus('li.task:nth-child(1)');
    await a.keyboard.press('F2');
    await a.keyboard.press('Control+A');
    await a.keyboard.type('walk the dog');
    await a.keyboard.press('Enter');
    await eventually(async () => (await shown(b))[0]?.title === 'walk the dog', 5000, 'the rename to reach Bob');
    assert.deepEqual(await a.evaluate(() => /** @type {any} */ (window).__pendingSaid), [], 'a live link does not announce each change as waiting');

    // Who is here: both, each marking itself.
    await eventually(async () => (await pageState(a)).viewers.length === 2 && (await pageState(b)).viewers.length === 2, 5000, 'two viewers');
    const va = (await pageState(a)).viewers;
    assert.equal(va.filter((/** @type {any} */ v) => v.you).length, 1);

    // A second tab in Alice's browser: same state at once, and no second host link: the
    // host's own count of Alice's links to the board (presence-read learns it from the
    // gateway) stays at one.
    const a2 = await openBoard(alice, system.origin, board);
    assert.deepEqual(await shown(a2), await shown(a));
    const aliceHandle = va.find((/** @type {any} */ v) => v.you).viewer;
    await a2.click('li.task:nth-child(2) .remove');
    await eventually(async () => (await shown(a)).length === 1 && (await shown(b)).length === 1, 5000, 'the delete from the second tab');
    for (const page of [a, a2, b]) {
      const mine = (await pageState(page)).viewers.find((/** @type {any} */ v) => v.viewer === aliceHandle);
      assert.equal(mine?.links, 1, 'Alice is one viewer with one board link for two tabs');
    }
    const twoTabs = await pageState(a2);
    assert.equal(twoTabs.viewers.length, 2, 'still two viewers (two browsers)');

    await assertBoardsMatchLog(system, [a, a2, b], board);
    console.log(`# change to the other browser: ${toBob} ms (add), ${toAlice} ms (complete)`);
    await Promise.all([a.close(), a2.close(), b.close()]);
  });

  test('bad commands are rejected with a reason shown to the user, and nothing else breaks', { timeout: 60_000 }, async () => {
    const board = unique('bad');
    const a = await openBoard(alice, system.origin, board);
    const b = await openBoard(bob, system.origin, board);
    // The UI refuses an empty title itself (and sends nothing).
    await a.fill('#add-title', '   ');
    await a.press('#add-title', 'Enter');
    await a.waitForSelector('#errors li[data-reason="bad_title"]', { timeout: 2000 });
    assert.equal(await sentCount(a), 0);

    const ids = await a.evaluate((board) => {
      const send = /** @type {any} */ (window).__board.send;
      const id = (/** @type {string} */ n) => `c-bad-${n}-${Math.random().toString(36).slice(2)}`;
      return {
        unknown_command: send({ type: 'task.explode', id: id('type'), data: { board, task: 't1' } }),
        missing_field: send({ type: 'task.add', id: id('fields'), data: { board } }),
        no_such_task: send({ type: 'task.complete', id: id('task'), data: { board, task: 't-does-not-exist' } }),
        bad_title: send({ type: 'task.add', id: id('title'), data: { board, task: 't-long', title: 'x'.repeat(501) } }),
        event_too_large: send({ type: 'task.add', id: id('huge'), data: { board, task: 't-huge', title: 'x'.repeat(70_000) } }),
      };
    }, board);
    for (const [reason, id] of Object.entries(ids)) {
      const li = await a.waitForSelector(`#errors li[data-command="${id}"]`, { timeout: 10_000 });
      const text = await li.textContent();
      assert.ok(text?.startsWith(`${reason}:`) && text.length > reason.length + 3, `shown with its reason and a message: ${text}`);
    }
    // Errors are announced to assistive technology.
    assert.equal(await a.getAttribute('#errors', 'aria-live'), 'assertive');
    // Everything still works, for both.
    await a.fill('#add-title', 'still fine');
    await a.press('#add-title', 'Enter');
    await eventually(async () => (await shown(b)).some((t) => t.title === 'still fine'), 5000, 'a good command after the bad ones');
    const { log } = await assertBoardsMatchLog(system, [a, b], board, { allowRejected: true });
    for (const id of Object.values(ids)) assert.ok(!log.some((e) => e.id === id), `${id} is not in the log`);
    await Promise.all([a.close(), b.close()]);
  });

  test('reload keeps the board; a restart of the whole system keeps it', { timeout: 240_000 }, async () => {
    const board = unique('durable');
    const a = await openBoard(alice, system.origin, board);
    for (const title of ['one', 'two', 'three']) await a.evaluate((t) => /** @type {any} */ (window).__board.addTask(t), title);
    await a.evaluate(() => {
      const b = /** @type {any} */ (window).__board;
      return new Promise((resolve) => {
        const wait = () => (b.tasks().length === 3 ? resolve(undefined) : setTimeout(wait, 20));
        wait();
      });
    });
    const first = (await assertBoardsMatchLog(system, [a], board)).tasks;
    assert.equal(first.length, 3);
    await a.reload();
    await waitLive(a, 20_000);
    assert.deepEqual(await shown(a), first, 'reload');

    await system.restart();
    // The open page comes back by itself; a fresh page shows the same.
    await waitLive(a, 60_000);
    await a.evaluate(() => /** @type {any} */ (window).__board.addTask('after restart'));
    const b = await openBoard(bob, system.origin, board);
    const after = (await assertBoardsMatchLog(system, [a, b], board)).tasks;
    assert.deepEqual(after.slice(0, 3), first, 'what was there before the restart is still there');
    assert.equal(after.length, 4);
    await Promise.all([a.close(), b.close()]);
  });

  test('a change held up on a live link is counted on the page after a second, and cleared once acknowledged', { timeout: 60_000 }, async () => {
    const board = unique('slow');
    const a = await openBoard(alice, system.origin, board);
    // tasks-write frozen (SIGSTOP): its links stay open, it just does not answer.
    const writers = system.instances('tasks-write');
    const pids = writers.map((w) => /** @type {any} */ (w).pid ?? /** @type {any} */ (w).child?.pid);
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    try {
      await a.fill('#add-title', 'held up');
      await a.press('#add-title', 'Enter');
      await eventually(async () => /1 change waiting/.test(String(await a.textContent('#pending'))), 10_000, 'the page to count the waiting change');
      assert.equal((await pageState(a)).status.shown, 'open', 'the links are still up');
    } finally {
      for (const pid of pids) process.kill(pid, 'SIGCONT');
    }
    await eventually(async () => (await shown(a)).some((t) => t.title === 'held up'), 30_000, 'the change to be applied');
    await eventually(async () => (await a.textContent('#pending')) === '', 10_000, 'the count to clear');
    await assertBoardsMatchLog(system, [a], board);
    await a.close();
  });

  test('a change made while the gateway is down is applied once when it is back', { timeout: 90_000 }, async () => {
    const board = unique('offline');
    const a = await openBoard(alice, system.origin, board);
    const b = await openBoard(bob, system.origin, board);
    // Down means every instance (the prod-like topology runs two).
    const gateways = system.instances('gateway');
    await Promise.all(gateways.map((g) => g.kill('SIGKILL')));
    await eventually(async () => (await pageState(a)).status.shown !== 'open', 20_000, 'the page to show it is not live');
    await a.fill('#add-title', 'made offline');
    await a.press('#add-title', 'Enter');
    await eventually(async () => (await pageState(a)).status.pending === 1, 5000, 'the change to wait in the outbox, counted on the page');
    assert.match(String(await a.textContent('#pending')), /1 change waiting/);
    await Promise.all(gateways.map((g) => g.start()));
    await eventually(async () => (await shown(b)).some((t) => t.title === 'made offline'), 30_000, 'the offline change to reach Bob');
    const { log } = await assertBoardsMatchLog(system, [a, b], board);
    assert.equal(log.filter((e) => e.data.board === board).length, 1, 'applied once');
    await Promise.all([a.close(), b.close()]);
  });

  test('a change kept in IndexedDB while the gateway is down survives a restart of the service worker and is applied once', { timeout: 120_000 }, async () => {
    const board = unique('idb');
    const a = await openBoard(alice, system.origin, board);
    const gateways = system.instances('gateway');
    await Promise.all(gateways.map((g) => g.kill('SIGKILL')));
    await a.fill('#add-title', 'kept in IndexedDB');
    await a.press('#add-title', 'Enter');
    await eventually(async () => (await pageState(a)).status.pending === 1, 10_000, 'the change stored in the outbox');
    // Stop the service worker (its memory is gone; what it stored is in IndexedDB). The
    // page's watch notices and a new worker starts, which loads the outbox.
    const cdp = await alice.newCDPSession(a);
    await cdp.send('ServiceWorker.enable');
    await cdp.send('ServiceWorker.stopAllWorkers');
    await eventually(async () => (await pageState(a)).problems.some((/** @type {any} */ p) => p.reason.startsWith('worker_')), 30_000, 'the page to notice the worker was stopped');
    await Promise.all(gateways.map((g) => g.start()));
    const b = await openBoard(bob, system.origin, board);
    await eventually(async () => (await shown(b)).some((t) => t.title === 'kept in IndexedDB'), 45_000, 'the stored change to arrive from the new worker');
    await waitLive(a, 45_000);
    const { log } = await assertBoardsMatchLog(system, [a, b], board);
    assert.equal(log.filter((e) => e.data.board === board).length, 1, 'applied once');
    await Promise.all([a.close(), b.close()]);
  });

  test('each host service killed and restarted while a browser keeps changing the board: every browser equals the log', { timeout: 300_000 }, async () => {
    const board = unique('chaos');
    const a = await openBoard(alice, system.origin, board);
    const b = await openBoard(bob, system.origin, board);
    await startChurn(a, 50);
    for (const name of ['tasks-write', 'tasks-read', 'presence-read', 'gateway']) {
      const before = await sentCount(a);
      const instance = system.instance(name);
      await instance.kill('SIGKILL');
      // Changes go on being made while it is down.
      await eventually(async () => (await sentCount(a)) >= before + 10, 10_000, `changes while ${name} is down`);
      await instance.start();
      await waitLive(a, 30_000);
      const back = await sentCount(a);
      await eventually(async () => (await sentCount(a)) >= back + 10, 10_000, `changes after ${name} is back`);
    }
    const sent = await stopChurn(a);
    const { log } = await assertBoardsMatchLog(system, [a, b], board, { timeoutMs: 45_000, allowRejected: true });
    const rejected = (await pageState(a)).problems.filter((/** @type {any} */ p) => p.id);
    console.log(`# ${sent} changes sent through four kills, ${log.filter((e) => e.data.board === board).length} in the log, ${rejected.length} rejected (${[...new Set(rejected.map((/** @type {any} */ p) => p.reason))]})`);
    await Promise.all([a.close(), b.close()]);
  });
});
