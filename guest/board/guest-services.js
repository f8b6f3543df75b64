// The board's guest services, run in the worker (board-sw.js or board-worker.js):
//
// - `board-read` (a read service): a tab's view of one board (`ctx.params.board`). Every tab
//   on a board is served from one BoardHub per board per worker: one host link to tasks-read
//   and one to presence-read, whatever the number of tabs.
// - `board-write` (a write service): takes the tab's commands into the worker's one Outbox
//   (IndexedDB), which sends them over the worker's one link to tasks-write (while storing
//   them). The tab's write is acknowledged (`outbox.stored`) once the command is in IndexedDB
//   (the tab's session holds it until then); tasks-write's answer
//   (`ack` or `command.rejected`) follows and is shown by every tab of that board.
//
// Neither uses `ctx.link`: the runtime opens a run's links per window, and the point here is
// that tabs share the worker's links and state. They use the worker's one guest identity
// (passed to serveGuestServices too), so presence-read sees one viewer per browser.

import { defineGuestService, GatewayLink, GuestIdentity } from '../src/index.js';
import { isBoardName } from './board-state.js';
import { BoardHub } from './board-hub.js';
import { Outbox, connectOutbox, takeCommands } from './outbox.js';

/** @typedef {import('../src/index.js').Event} Event */
/** @typedef {import('../src/index.js').LinkStatus} LinkStatus */

/** Most events waiting for one tab in the write service's output (beyond: oldest acks go). */
const MAX_TAB_QUEUE = 512;
/** A board no tab shows keeps its links this long (a reload comes straight back). */
const LINGER_MS = 10_000;

/**
 * Defines `board-read` and `board-write`.
 *
 * @param {{gateway: string, store: import('./outbox.js').OutboxStore, uploadMode?: 'auto' | 'stream' | 'batch', outboxLimit?: number}} options
 * @returns {{guest: GuestIdentity, hubs: Map<string, {hub: BoardHub, tabs: number}>, outbox: Outbox, stats: () => Record<string, unknown>}}
 *   `guest`: give it to serveGuestServices' linkOptions so all links share one guest id
 */
export function defineBoardServices({ gateway, store, uploadMode = 'auto', outboxLimit = 1000 }) {
  const guest = new GuestIdentity({ baseUrl: gateway });
  const prefix = Math.random().toString(36).slice(2, 8);
  let links = 0;
  let hostLinksOpened = 0;
  /**
   * @param {string} service
   * @param {Record<string, string> | undefined} params
   * @param {(status: LinkStatus) => void} onStatus
   */
  const open = (service, params, onStatus) => {
    hostLinksOpened++;
    return new GatewayLink({ baseUrl: gateway, guest, service, link: `${service}-${prefix}-${++links}`, params, onStatus, uploadMode });
  };

  /** @type {Map<string, {hub: BoardHub, tabs: number, timer?: ReturnType<typeof setTimeout>}>} */
  const hubs = new Map();

  defineGuestService('board-read', (input, ctx) => {
    // The tab sends nothing here; reading keeps the bridge's input moving.
    input.pipeTo(new WritableStream()).catch(() => {});
    const board = /** @type {{board?: unknown}} */ (ctx.params ?? {}).board;
    if (!isBoardName(board)) {
      return new ReadableStream({
        start(controller) {
          controller.enqueue({ type: 'link.error', data: { reason: 'bad_param', message: 'a board name is 1-64 of a-z 0-9 -', fatal: true } });
          controller.close();
        },
      });
    }
    let entry = hubs.get(board);
    if (!entry) {
      const hub = new BoardHub({ board, openLink: open });
      hub.start();
      entry = { hub, tabs: 0 };
      hubs.set(board, entry);
    }
    clearTimeout(entry.timer);
    entry.tabs++;
    const held = entry;
    ctx.signal.addEventListener('abort', () => {
      if (--held.tabs > 0) return;
      held.timer = setTimeout(() => {
        if (held.tabs > 0 || hubs.get(board) !== held) return;
        hubs.delete(board);
        held.hub.close();
      }, LINGER_MS);
    });
    return held.hub.feed(ctx.signal);
  });

  const outbox = new Outbox({ store, limit: outboxLimit });
  /** @type {LinkStatus} */
  let writeStatus = 'connecting';
  /** @type {Set<() => void>} */
  const writeWatchers = new Set();
  const wakeWriters = () => {
    for (const wake of [...writeWatchers]) wake();
  };
  outbox.onChange(wakeWriters);
  /** @type {Event[]} */
  const writeErrors = [];
  let writeErrorCount = 0;
  connectOutbox(
    outbox,
    () =>
      open('tasks-write', undefined, (status) => {
        writeStatus = status;
        wakeWriters();
      }),
    {
      onError: (event) => {
        writeErrors.push({ type: 'board.error', data: { .../** @type {object} */ (event.data), link: 'tasks-write' } });
        if (writeErrors.length > 16) writeErrors.shift();
        writeErrorCount++;
        wakeWriters();
      },
    },
  );

  defineGuestService('board-write', (input, ctx) => {
    const board = /** @type {{board?: unknown}} */ (ctx.params ?? {}).board;
    /** @type {Event[]} */
    const queue = [];
    /** ids this tab gave: their outcome goes to this tab whatever the board */
    const mine = new Set();
    let statusSent = '';
    let errorsSeen = writeErrorCount;
    /** @param {Event} event */
    const push = (event) => {
      queue.push(event);
      if (queue.length > MAX_TAB_QUEUE) {
        const at = queue.findIndex((e) => e.type === 'ack');
        queue.splice(at === -1 ? 0 : at, 1);
      }
      wakeWriters();
    };
    const unsubscribe = outbox.onSettled((outcome, command) => {
      const id = outcome.data.ack;
      const commandBoard = /** @type {{board?: unknown} | undefined} */ (command?.data)?.board;
      if (mine.delete(id) || commandBoard === board) push(outcome);
    });
    ctx.signal.addEventListener('abort', unsubscribe);
    // Commands in as they come: each goes out at once (in the tab's order) while IndexedDB
    // stores it; the tab hears `outbox.stored` for each, in order, once it is durable, and its
    // session holds each until then. An id is this tab's from the moment it is taken: its ack
    // can come back before its put has finished.
    const taken = (async function* () {
      for await (const event of input) {
        if (event && typeof event === 'object' && typeof event.id === 'string') mine.add(event.id);
        yield event;
      }
    })();
    void takeCommands(taken, outbox, (result) => {
      // Settled already (its outcome went to this tab) or never held: nothing more to route.
      if (outbox.has(result.id)) mine.add(result.id);
      else mine.delete(result.id);
      if (result.stored) {
        // Answers the tab's own id (what its session holds), which outbox.add kept.
        push({ type: 'outbox.stored', data: { ack: result.id } });
      } else if ('sent' in result) {
        // Gone out but not kept on this device: no `outbox.stored`, so the tab's session
        // holds it until tasks-write's answer, and gives it to a new worker if this one stops.
        push({
          type: 'board.error',
          data: { reason: 'outbox_failed', message: `a change was sent but could not be kept on this device (${result.error}); it is safe once acknowledged` },
        });
      } else push(result.outcome);
    }).catch(() => {});
    return new ReadableStream(
      {
        async pull(controller) {
          for (;;) {
            if (ctx.signal.aborted) {
              controller.close();
              return;
            }
            const status = `${writeStatus}/${outbox.size}`;
            if (status !== statusSent) {
              statusSent = status;
              controller.enqueue({ type: 'outbox.status', data: { link: writeStatus, pending: outbox.size } });
              return;
            }
            const next = queue.shift();
            if (next) {
              controller.enqueue(next);
              return;
            }
            if (errorsSeen < writeErrorCount) {
              errorsSeen = Math.max(errorsSeen, writeErrorCount - writeErrors.length);
              controller.enqueue(writeErrors[errorsSeen - (writeErrorCount - writeErrors.length)]);
              errorsSeen++;
              return;
            }
            await new Promise((resolve) => {
              const wake = () => {
                writeWatchers.delete(wake);
                resolve(undefined);
              };
              writeWatchers.add(wake);
              ctx.signal.addEventListener('abort', wake, { once: true });
            });
          }
        },
      },
      { highWaterMark: 0 },
    );
  });

  const stats = () => ({
    hostLinksOpened,
    boards: Object.fromEntries([...hubs].map(([name, e]) => [name, { tabs: e.tabs, status: e.hub.status, seq: e.hub.seq }])),
    outbox: outbox.size,
    write: writeStatus,
  });
  return { guest, hubs, outbox, stats };
}
