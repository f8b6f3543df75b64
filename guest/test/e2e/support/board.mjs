// Helpers for the board's browser tests: open a board page, wait for conditions on it, and
// check what every page shows against tasks-write's log.

import assert from 'node:assert/strict';
import { boardFromLog } from '../../../board/board-state.js';

/** @typedef {import('playwright-core').Page} Page */

/**
 * Polls `check` (in Node) until it returns a truthy value; fails with `what` after `timeoutMs`.
 *
 * @template T
 * @param {() => Promise<T>} check
 * @param {number} timeoutMs
 * @param {string} what
 * @returns {Promise<T>}
 */
export async function eventually(check, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Opens /board/?b=<board> and waits until it shows the board with every link open.
 *
 * @param {import('playwright-core').BrowserContext} context
 * @param {string} origin
 * @param {string} board
 * @returns {Promise<Page & {problems: string[]}>}
 */
export async function openBoard(context, origin, board) {
  const page = /** @type {Page & {problems: string[]}} */ (await context.newPage());
  page.problems = [];
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  await page.goto(`${origin}/board/?b=${board}`);
  await waitLive(page, 30_000);
  return page;
}

/** @param {Page} page @param {number} timeoutMs */
export async function waitLive(page, timeoutMs) {
  try {
    await page.waitForFunction(() => {
      const b = /** @type {any} */ (window).__board;
      return b?.loaded() && b.status().shown === 'open';
    }, null, { timeout: timeoutMs, polling: 50 });
  } catch (error) {
    const now = await page.evaluate(() => {
      const b = /** @type {any} */ (window).__board;
      return b && { loaded: b.loaded(), status: b.status(), problems: b.problems().slice(-5) };
    }).catch(() => undefined);
    throw new Error(`the board page was not live within ${timeoutMs} ms: ${JSON.stringify(now)}`, { cause: error });
  }
}

/** @param {Page} page @returns {Promise<{task: string, title: string, done: boolean}[]>} */
export const shown = (page) => page.evaluate(() => /** @type {any} */ (window).__board.tasks());

/**
 * The titles the page's list shows, in order, read from the DOM: what a keyboard user acts
 * on. The board's state changes first and the list follows on the next animation frame, so a
 * test that focuses an item by position waits for this, not for {@link shown}.
 * @param {Page} page @returns {Promise<string[]>}
 */
export const onScreen = (page) => page.$$eval('li.task .title', (els) => els.map((el) => el.textContent ?? ''));

/** @param {Page} page */
export const pageState = (page) =>
  page.evaluate(() => {
    const b = /** @type {any} */ (window).__board;
    return { status: b.status(), problems: b.problems(), sent: b.sentIds(), viewers: b.viewers() };
  });

/**
 * Waits until the pages have nothing waiting to be sent, then until each shows exactly the
 * board tasks-write's log makes, and checks exactly-once: no command id twice in the log,
 * and every command the pages sent is either in the log once or was rejected.
 *
 * @param {{readLog: () => Promise<any[]>}} system
 * @param {Page[]} pages
 * @param {string} board
 * @param {{timeoutMs?: number, allowRejected?: boolean}} [options]
 * @returns {Promise<{log: any[], tasks: any[]}>}
 */
export async function assertBoardsMatchLog(system, pages, board, { timeoutMs = 30_000, allowRejected = false } = {}) {
  for (const [i, page] of pages.entries()) {
    /** @type {any} */
    let seen;
    await eventually(async () => {
      seen = await pageState(page);
      return seen.status.pending === 0 && seen.status.shown === 'open';
    }, timeoutMs, 'the outbox to empty and every link to be open').catch((error) => {
      // What the page showed last: which link was not open, how many changes were waiting,
      // and its last problems, so a failure says where to look.
      throw new Error(`page ${i}: ${error.message}; status ${JSON.stringify(seen?.status)}, `
        + `last problems ${JSON.stringify(seen?.problems?.slice(-5))}`);
    });
  }
  const log = await system.readLog();
  const expected = boardFromLog(log, board).tasks();
  for (const page of pages) {
    await eventually(async () => JSON.stringify(await shown(page)) === JSON.stringify(expected), timeoutMs, `the page to show the log's board (${expected.length} tasks)`).catch(async (error) => {
      assert.deepEqual(await shown(page), expected, error.message);
    });
  }
  // Exactly once.
  const counts = new Map();
  for (const e of log) counts.set(e.id, (counts.get(e.id) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1);
  assert.deepEqual(twice, [], 'no command applied twice');
  for (const page of pages) {
    const s = await pageState(page);
    const rejected = new Set(s.problems.map((/** @type {any} */ p) => p.id).filter(Boolean));
    const lost = s.sent.filter((/** @type {string} */ id) => !counts.has(id) && !rejected.has(id));
    assert.deepEqual(lost, [], 'no command lost');
    if (!allowRejected) assert.deepEqual([...rejected], [], 'no command rejected');
    assert.deepEqual(/** @type {any} */ (page).problems ?? [], [], 'no page errors');
  }
  return { log, tasks: expected };
}

/**
 * Starts a page making changes every `intervalMs` (adds, completes/reopens, renames, moves:
 * never removes, so every command is valid against what the page shows) until stopChurn.
 *
 * @param {Page} page
 * @param {number} intervalMs
 */
export async function startChurn(page, intervalMs) {
  await page.evaluate((ms) => {
    const w = /** @type {any} */ (window);
    let n = 0;
    w.__churn = setInterval(() => {
      const b = w.__board;
      const tasks = b.tasks();
      n++;
      if (tasks.length < 3 || n % 4 === 0) b.addTask(`churn ${n}`);
      else {
        const i = n % tasks.length;
        const t = tasks[i];
        if (n % 4 === 1) b.command(t.done ? 'task.reopen' : 'task.complete', { task: t.task });
        else if (n % 4 === 2) b.command('task.rename', { task: t.task, title: `renamed ${n}` });
        else b.move(t.task, i === 0 ? 1 : -1);
      }
    }, ms);
  }, intervalMs);
}

/** @param {Page} page @returns {Promise<number>} commands sent */
export const stopChurn = (page) =>
  page.evaluate(() => {
    const w = /** @type {any} */ (window);
    clearInterval(w.__churn);
    return w.__board.sentIds().length;
  });

/** @param {Page} page */
export const sentCount = (page) => page.evaluate(() => /** @type {any} */ (window).__board.sentIds().length);
