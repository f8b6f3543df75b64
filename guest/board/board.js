// The board page: two view services in this window.
// - `board-view` renders what the worker's `board-read` service sends: the board (snapshot,
//   then changes), who is here, and the state of the host links;
// - `board-actions` sends the user's commands to the worker's `board-write` service and shows
//   what tasks-write answered (rejections with their reason).
// The page shows only what tasks-read says (no optimistic copy): a change appears once it is
// in the log, which over a live link takes a few milliseconds. Changes still waiting in the
// outbox are counted next to the status.
//
// Query: ?b=<board> (default `welcome`), ?worker=dedicated, ?upload=auto|stream|batch.
// Tests drive it through `window.__board` (see the bottom of this file).

import { GuestWorker, defineViewService, startViewService } from '../src/index.js';
import { BoardState, beforeForMove, isBoardName, titleProblem } from './board-state.js';

/** @typedef {import('../src/index.js').Event} Event */
/** @typedef {import('./board-state.js').Task} Task */

const query = new URLSearchParams(location.search);
const board = query.get('b') ?? 'welcome';
const workerKind = query.get('worker') === 'dedicated' ? 'dedicated' : 'service';
const upload = query.get('upload') ?? 'auto';
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const input = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

/** Most commands waiting in this window for the worker (beyond: refused with a message). */
const MAX_QUEUED = 1000;

// --- state -------------------------------------------------------------------------------

let state = new BoardState();
let loaded = false;
/** whether the board on screen is the loaded one (rendering waits for the next frame) */
let shownLoaded = false;
/** @type {string | undefined} the task being renamed */
let editing;
/** @type {{bridge: string, read: string, board: string, presence: string, write: string, pending: number}} */
const status = { bridge: 'connecting', read: 'connecting', board: 'connecting', presence: 'connecting', write: 'connecting', pending: 0 };
/** @type {{reason: string, message: string, id?: string, at: number}[]} */
const problems = [];
/** command ids made in this window, in order */
const sentIds = /** @type {string[]} */ ([]);
const acked = new Set();

// --- rendering ---------------------------------------------------------------------------

const list = /** @type {HTMLOListElement} */ ($('tasks'));
const template = /** @type {HTMLTemplateElement} */ ($('task-template'));
/** @type {Map<string, HTMLLIElement>} */
const items = new Map();
let renderQueued = false;

function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

function render() {
  const tasks = state.tasks();
  // Keep focus where it was: moving a node out and back in blurs it.
  const active = document.activeElement;
  const activeItem = active instanceof HTMLElement ? active.closest('li.task') : null;
  const focusTask = activeItem instanceof HTMLElement ? activeItem.dataset.task : undefined;
  const focusClass = active instanceof HTMLElement && active !== activeItem ? active.className : undefined;

  const seen = new Set();
  tasks.forEach((task, index) => {
    seen.add(task.task);
    let li = items.get(task.task);
    if (!li) {
      li = /** @type {HTMLLIElement} */ (/** @type {DocumentFragment} */ (template.content.cloneNode(true)).firstElementChild);
      li.dataset.task = task.task;
      items.set(task.task, li);
    }
    fill(li, task, index, tasks.length);
    if (list.children[index] !== li) list.insertBefore(li, list.children[index] ?? null);
  });
  for (const [id, li] of items) {
    if (!seen.has(id)) {
      li.remove();
      items.delete(id);
      if (editing === id) editing = undefined;
    }
  }
  if (focusTask && document.activeElement !== active) {
    const li = items.get(focusTask);
    const target = li && focusClass ? /** @type {HTMLElement | null} */ (li.querySelector(`.${focusClass.split(' ')[0]}`)) : li;
    (target ?? li)?.focus();
  }
  $('loading').hidden = loaded;
  shownLoaded = loaded;
  list.dataset.count = String(tasks.length);
}

/**
 * @param {HTMLLIElement} li
 * @param {Task} task
 * @param {number} index
 * @param {number} count
 */
function fill(li, task, index, count) {
  // Touch the DOM only when what this item shows changed: every write (even of the same
  // value) costs style, layout and paint work in every tab on every change of the board.
  const shown = JSON.stringify([task.title, task.done, index === 0, index === count - 1, editing === task.task]);
  if (li.dataset.shown === shown) return;
  li.dataset.shown = shown;
  const q = (/** @type {string} */ c) => /** @type {HTMLElement} */ (li.querySelector(c));
  li.classList.toggle('is-done', task.done);
  li.dataset.done = String(task.done);
  const done = /** @type {HTMLInputElement} */ (q('.done'));
  done.checked = task.done;
  done.setAttribute('aria-label', `Done: ${task.title}`);
  if (editing !== task.task) q('.title').textContent = task.title;
  q('.rename').setAttribute('aria-label', `Rename ${task.title}`);
  q('.up').setAttribute('aria-label', `Move ${task.title} up`);
  q('.down').setAttribute('aria-label', `Move ${task.title} down`);
  q('.remove').setAttribute('aria-label', `Delete ${task.title}`);
  /** @type {HTMLButtonElement} */ (q('.up')).disabled = index === 0;
  /** @type {HTMLButtonElement} */ (q('.down')).disabled = index === count - 1;
}

/** @param {{viewer: string, links: number, you: boolean}[]} viewers */
function renderViewers(viewers) {
  const ul = $('viewers');
  ul.replaceChildren(
    ...viewers.map((v) => {
      const li = document.createElement('li');
      li.dataset.viewer = v.viewer;
      li.dataset.links = String(v.links);
      if (v.you) li.className = 'you';
      li.textContent = `${v.you ? 'You' : 'Viewer'} ${v.viewer}${v.links > 1 ? ` (${v.links} links)` : ''}`;
      return li;
    }),
  );
  if (viewers.length === 0) ul.textContent = 'Nobody yet.';
}

function renderStatus() {
  const links = [status.bridge, status.board, status.presence, status.write];
  const all = links.every((s) => s === 'open') ? 'open' : links.includes('closed') ? 'closed' : 'connecting';
  const el = $('status');
  // Only what changed: this runs on every outbox count, and even a write of the same value
  // costs the page a frame.
  const data = { status: all, bridge: status.bridge, board: status.board, write: status.write };
  for (const [key, value] of Object.entries(data)) if (el.dataset[key] !== value) el.dataset[key] = value;
  const text =
    all === 'open'
      ? 'Live'
      : `${all === 'closed' ? 'Disconnected' : 'Reconnecting'} (worker ${status.bridge}, board ${status.board}, who ${status.presence}, changes ${status.write})`;
  if ($('status-text').textContent !== text) $('status-text').textContent = text;
  renderPending(all === 'open');
}

/** How long a change may wait on a live link before the page says so. */
const PENDING_SHOWN_AFTER_MS = 1000;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let pendingTimer;
/** Changes have been waiting (the count never fell to 0) for PENDING_SHOWN_AFTER_MS. */
let pendingLong = false;

/**
 * "n changes waiting to be sent", said only when it tells the user something: at once while
 * the links are down, but on a live link only once changes have waited a while. Each change
 * waits there a few milliseconds for its ack; saying so every time would flash the status,
 * announce it to screen readers (the status is a live region) and cost the page two extra
 * frames per change.
 *
 * @param {boolean} live
 */
function renderPending(live) {
  const el = $('pending');
  if (status.pending === 0) {
    clearTimeout(pendingTimer);
    pendingTimer = undefined;
    pendingLong = false;
  } else if (pendingTimer === undefined && !pendingLong) {
    pendingTimer = setTimeout(() => {
      pendingTimer = undefined;
      pendingLong = true;
      renderStatus();
    }, PENDING_SHOWN_AFTER_MS);
  }
  const say = status.pending > 0 && (!live || pendingLong);
  const text = say ? `· ${status.pending} change${status.pending === 1 ? '' : 's'} waiting to be sent` : '';
  if (el.textContent !== text) el.textContent = text;
}

/** @param {string} reason @param {string} message @param {string} [id] */
function problem(reason, message, id) {
  problems.push({ reason, message, id, at: Date.now() });
  if (problems.length > 100) problems.shift();
  const li = document.createElement('li');
  li.dataset.reason = reason;
  if (id) li.dataset.command = id;
  li.textContent = `${reason}: ${message}`;
  const ol = $('errors');
  ol.prepend(li);
  while (ol.children.length > 50) ol.lastElementChild?.remove();
}

// --- commands ----------------------------------------------------------------------------

/** @type {ReadableStreamDefaultController<Event>} */
let commands;
let queued = 0;
/** ids given to the worker, neither stored there nor answered yet (what `queued` counts) */
const unstored = new Set();

const newTaskId = () => `t-${crypto.randomUUID().replaceAll('-', '').slice(0, 16)}`;

/**
 * Sends one command as it is (tests use this to send bad ones).
 *
 * @param {Event} event
 * @returns {string | undefined} its id
 */
function send(event) {
  if (queued >= MAX_QUEUED) {
    problem('too_many_changes', `${queued} changes are queued in this window; wait for them to be sent`);
    return undefined;
  }
  if (typeof event.id === 'string') {
    queued++;
    unstored.add(event.id);
    sentIds.push(event.id);
  }
  commands.enqueue(event);
  return event.id;
}

/**
 * @param {string} type
 * @param {Record<string, unknown>} data
 */
function command(type, data) {
  return send({ type, id: `c-${crypto.randomUUID()}`, data: { board, ...data } });
}

/** @param {string} title @param {string | null} [before] */
function addTask(title, before) {
  const task = newTaskId();
  const id = command('task.add', { task, title, ...(before === undefined ? {} : { before }) });
  return { id, task };
}

/** @param {string} task @param {-1 | 1} direction */
function move(task, direction) {
  const tasks = state.tasks();
  const before = beforeForMove(tasks, tasks.findIndex((t) => t.task === task), direction);
  if (before !== undefined) command('task.move', { task, before });
}

/** @param {string} task */
function toggle(task) {
  const t = state.get(task);
  if (t) command(t.done ? 'task.reopen' : 'task.complete', { task });
}

/** @param {HTMLLIElement} li */
function startRename(li) {
  const task = /** @type {string} */ (li.dataset.task);
  const current = state.get(task);
  if (!current) return;
  editing = task;
  const title = /** @type {HTMLElement} */ (li.querySelector('.title'));
  const field = document.createElement('input');
  field.className = 'edit';
  field.value = current.title;
  field.maxLength = 500;
  field.setAttribute('aria-label', `New title for ${current.title}`);
  title.replaceChildren(field);
  field.focus();
  field.select();
  const finish = (/** @type {boolean} */ save) => {
    if (editing !== task) return;
    editing = undefined;
    const value = field.value;
    const now = state.get(task);
    title.textContent = now?.title ?? value;
    li.focus();
    if (!save || !now || value === now.title) return;
    const why = titleProblem(value);
    if (why) problem('bad_title', why);
    else command('task.rename', { task, title: value });
  };
  field.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      finish(true);
    } else if (e.key === 'Escape') {
      e.preventDefault();
      finish(false);
    }
    e.stopPropagation();
  });
  field.addEventListener('blur', () => finish(true));
}

$('add-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const field = input('add-title');
  const why = titleProblem(field.value);
  if (why) {
    problem('bad_title', why);
    field.setAttribute('aria-invalid', 'true');
    return;
  }
  field.removeAttribute('aria-invalid');
  addTask(field.value);
  field.value = '';
});

list.addEventListener('click', (e) => {
  const target = /** @type {HTMLElement} */ (e.target);
  const li = /** @type {HTMLLIElement | null} */ (target.closest('li.task'));
  const task = li?.dataset.task;
  if (!li || !task) return;
  if (target.classList.contains('done')) {
    e.preventDefault(); // the board, not the click, decides what it shows
    toggle(task);
  } else if (target.classList.contains('rename')) startRename(li);
  else if (target.classList.contains('up')) move(task, -1);
  else if (target.classList.contains('down')) move(task, 1);
  else if (target.classList.contains('remove')) {
    const next = /** @type {HTMLElement | null} */ (li.nextElementSibling ?? li.previousElementSibling);
    command('task.remove', { task });
    next?.focus();
  }
});

list.addEventListener('keydown', (e) => {
  const target = /** @type {HTMLElement} */ (e.target);
  const li = /** @type {HTMLLIElement | null} */ (target.closest('li.task'));
  const task = li?.dataset.task;
  if (!li || !task || target.classList.contains('edit')) return;
  if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
    e.preventDefault();
    move(task, e.key === 'ArrowUp' ? -1 : 1);
  } else if (!e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown') && target === li) {
    e.preventDefault();
    /** @type {HTMLElement | null} */ (e.key === 'ArrowUp' ? li.previousElementSibling : li.nextElementSibling)?.focus();
  } else if (e.key === 'F2') {
    e.preventDefault();
    startRename(li);
  } else if (e.key === 'Delete' && target === li) {
    e.preventDefault();
    command('task.remove', { task });
  } else if (e.key === ' ' && target === li) {
    e.preventDefault();
    toggle(task);
  }
});

// --- the two view services ---------------------------------------------------------------

const boardView = defineViewService('board-view', (events) => {
  (async () => {
    for await (const event of events) {
      const data = /** @type {Record<string, any>} */ (event.data ?? {});
      if (event.type === 'board.state') {
        state = new BoardState(data.tasks);
        loaded = true;
        scheduleRender();
      } else if (event.type.startsWith('task.')) {
        if (state.apply(event.type, data)) scheduleRender();
      } else if (event.type === 'presence.state') {
        renderViewers(data.viewers ?? []);
      } else if (event.type === 'board.status') {
        status.board = data.board;
        status.presence = data.presence;
        renderStatus();
      } else if (event.type === 'board.error' || event.type === 'link.error') {
        problem(String(data.reason), `${data.link ? `${data.link}: ` : ''}${data.message ?? ''}${data.reconnect ? ' (reconnecting)' : ''}`);
      }
    }
  })().catch((error) => problem('view_failed', String(error)));
  // This view sends nothing.
  return new ReadableStream();
});

const actions = defineViewService('board-actions', (events) => {
  (async () => {
    for await (const event of events) {
      const data = /** @type {Record<string, any>} */ (event.data ?? {});
      // Whichever comes first: the worker kept it, or tasks-write answered (a command is sent
      // while the worker stores it, so the ack can come back first).
      if ((event.type === 'outbox.stored' || event.type === 'ack' || event.type === 'command.rejected') && unstored.delete(data.ack)) queued--;
      if (event.type === 'ack') acked.add(data.ack);
      else if (event.type === 'command.rejected') {
        problem(String(data.reason), String(data.message ?? ''), data.ack);
      } else if (event.type === 'outbox.status') {
        status.write = data.link;
        status.pending = data.pending;
        renderStatus();
      } else if (event.type === 'board.error' || event.type === 'link.error') {
        problem(String(data.reason), `${data.link ? `${data.link}: ` : ''}${data.message ?? ''}${data.reconnect ? ' (reconnecting)' : ''}`);
      }
    }
  })().catch((error) => problem('view_failed', String(error)));
  return new ReadableStream({ start: (controller) => void (commands = controller) });
});

async function main() {
  $('board-name').textContent = board;
  document.title = `${board} · eventpaths board`;
  input('switch-name').value = board;
  if (!isBoardName(board)) {
    problem('bad_board', `"${board}" is not a board name: use 1-64 of a-z, 0-9 and -`);
    status.bridge = 'closed';
    renderStatus();
    return;
  }
  renderStatus();
  const config = `?upload=${encodeURIComponent(upload)}`;
  const worker =
    workerKind === 'dedicated'
      ? GuestWorker.dedicated(new URL(`board-worker.js${config}`, import.meta.url))
      : await GuestWorker.service(new URL(`board-sw.js${config}`, import.meta.url));
  const params = { board };
  const onStatus = (/** @type {'read' | 'bridge'} */ which) => (/** @type {import('../src/index.js').SessionStatus} */ s) => {
    status[which] = s.bridge;
    if (which === 'bridge') renderStatus();
  };
  await Promise.all([
    startViewService(boardView, { worker, service: 'board-read', params, onStatus: onStatus('read') }),
    startViewService(actions, { worker, service: 'board-write', params, onStatus: onStatus('bridge') }),
  ]);
}

main().catch((error) => {
  status.bridge = 'closed';
  renderStatus();
  problem('start_failed', String(error));
});

// --- the test hook -----------------------------------------------------------------------

Object.assign(window, {
  __board: {
    board,
    send,
    command,
    addTask,
    move,
    /** @returns {Task[]} what the page shows, read from the DOM */
    tasks: () =>
      [...list.querySelectorAll('li.task')].map((li) => ({
        task: /** @type {HTMLElement} */ (li).dataset.task ?? '',
        title: li.querySelector('.title')?.textContent ?? '',
        done: /** @type {HTMLElement} */ (li).dataset.done === 'true',
      })),
    /** @returns {boolean} the loaded board is on screen (not merely received) */
    loaded: () => shownLoaded,
    status: () => ({ ...status, shown: $('status').dataset.status }),
    problems: () => problems.slice(),
    sentIds: () => sentIds.slice(),
    acked: () => [...acked],
    viewers: () =>
      [...$('viewers').querySelectorAll('li')].map((li) => ({
        viewer: /** @type {HTMLElement} */ (li).dataset.viewer,
        links: Number(/** @type {HTMLElement} */ (li).dataset.links),
        you: li.classList.contains('you'),
        text: li.textContent,
      })),
  },
});
