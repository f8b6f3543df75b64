// The board's rules, shared by the worker (which keeps each board's state), the window and
// the tests (which compute the expected board from tasks-write's log). They are the rules of
// tasks-read's BoardProjection.java, so a guest that applies the changes it is sent to the
// snapshot it was sent gets the board tasks-read has:
// - `before` null or absent: at the end; `before` = X: just before X; X missing: at the end;
// - `task.added` for a task that exists, any other change for a task that does not, a
//   `task.moved` before itself and unknown types change nothing.

/** @typedef {{task: string, title: string, done: boolean}} Task */

export const BOARD_NAME = /^[a-z0-9-]{1,64}$/;
export const TASK_ID = /^[A-Za-z0-9_-]{1,64}$/;
export const MAX_TITLE = 500;

/**
 * @param {unknown} name
 * @returns {name is string}
 */
export const isBoardName = (name) => typeof name === 'string' && BOARD_NAME.test(name);

/**
 * Why a title would be refused (tasks-write: 1-500 chars), or undefined when it is fine.
 *
 * @param {string} title
 */
export function titleProblem(title) {
  if (title.trim().length === 0) return 'a task needs a title';
  if ([...title].length > MAX_TITLE) return `a title has at most ${MAX_TITLE} characters`;
  return undefined;
}

/**
 * @param {unknown} data
 * @param {string} field
 * @returns {string | undefined} the field as text (numbers and booleans too, as Jackson's asText)
 */
function text(data, field) {
  if (!data || typeof data !== 'object') return undefined;
  const v = /** @type {Record<string, unknown>} */ (data)[field];
  if (v === undefined || v === null) return undefined;
  return typeof v === 'string' ? v : typeof v === 'object' ? undefined : String(v);
}

/** One board: tasks in board order. */
export class BoardState {
  /** @type {Task[]} */
  #order = [];
  /** @type {Map<string, Task>} */
  #byId = new Map();

  /** @param {Iterable<Task>} [tasks] a snapshot, in board order */
  constructor(tasks = []) {
    for (const t of tasks) {
      if (!t || typeof t.task !== 'string' || this.#byId.has(t.task)) continue;
      const task = { task: t.task, title: String(t.title ?? ''), done: Boolean(t.done) };
      this.#order.push(task);
      this.#byId.set(task.task, task);
    }
  }

  /**
   * Applies one change.
   *
   * @param {string} type `task.added`, ...
   * @param {unknown} data its payload
   * @returns {boolean} whether the board changed
   */
  apply(type, data) {
    const id = text(data, 'task');
    if (id === undefined) return false;
    const current = this.#byId.get(id);
    switch (type) {
      case 'task.added':
        if (current) return false;
        this.#insert({ task: id, title: text(data, 'title') ?? '', done: false }, text(data, 'before'));
        return true;
      case 'task.renamed':
        return current !== undefined && this.#replace(current, { ...current, title: text(data, 'title') ?? current.title });
      case 'task.completed':
      case 'task.reopened':
        return current !== undefined && this.#replace(current, { ...current, done: type === 'task.completed' });
      case 'task.moved': {
        const before = text(data, 'before');
        if (!current || id === before) return false;
        this.#order.splice(this.#indexOf(id), 1);
        this.#byId.delete(id);
        this.#insert(current, before);
        return true;
      }
      case 'task.removed':
        if (!current) return false;
        this.#order.splice(this.#indexOf(id), 1);
        this.#byId.delete(id);
        return true;
      default:
        return false;
    }
  }

  /** @returns {Task[]} the tasks in board order (a copy) */
  tasks() {
    return this.#order.map((t) => ({ ...t }));
  }

  /** @param {string} id */
  get(id) {
    const t = this.#byId.get(id);
    return t && { ...t };
  }

  get size() {
    return this.#order.length;
  }

  /**
   * @param {Task} task
   * @param {string | undefined} before
   */
  #insert(task, before) {
    const at = before === undefined || !this.#byId.has(before) ? this.#order.length : this.#indexOf(before);
    this.#order.splice(at, 0, task);
    this.#byId.set(task.task, task);
  }

  /**
   * @param {Task} current
   * @param {Task} next
   */
  #replace(current, next) {
    if (current.title === next.title && current.done === next.done) return false;
    this.#order[this.#indexOf(current.task)] = next;
    this.#byId.set(next.task, next);
    return true;
  }

  /** @param {string} id */
  #indexOf(id) {
    const at = this.#order.findIndex((t) => t.task === id);
    if (at === -1) throw new Error(`task ${id} is indexed but not in order`);
    return at;
  }
}

/**
 * Replays a log (tasks-write's `log` events) into the board `board`: what tasks-read, and so
 * every browser, must show for it.
 *
 * @param {Iterable<{type: string, data?: unknown}>} log
 * @param {string} board
 */
export function boardFromLog(log, board) {
  const state = new BoardState();
  for (const e of log) {
    if (text(e.data, 'board') === board) state.apply(e.type, e.data);
  }
  return state;
}

/**
 * The `before` for moving the task at `index` one place up (-1) or down (+1) in `tasks`,
 * or undefined when it cannot move that way. `null` means "to the end".
 *
 * @param {readonly Task[]} tasks
 * @param {number} index
 * @param {-1 | 1} direction
 * @returns {string | null | undefined}
 */
export function beforeForMove(tasks, index, direction) {
  if (index < 0 || index >= tasks.length) return undefined;
  if (direction === -1) return index === 0 ? undefined : tasks[index - 1].task;
  if (index === tasks.length - 1) return undefined;
  return index + 2 < tasks.length ? tasks[index + 2].task : null;
}

/** Viewers of a board (presence-read's `presence.*` events), by handle. */
export class PresenceState {
  /** @type {Map<string, number>} handle -> links */
  viewers = new Map();
  /** @type {string | undefined} this guest's own handle */
  you;
  /** @type {Map<string, number> | undefined} a snapshot arriving in parts */
  #partial;

  /**
   * @param {{type: string, data?: unknown}} event
   * @returns {boolean} whether what a page shows changed
   */
  apply(event) {
    const data = /** @type {Record<string, unknown>} */ (event.data && typeof event.data === 'object' ? event.data : {});
    /** @param {Map<string, number>} into */
    const add = (into) => {
      for (const v of Array.isArray(data.viewers) ? data.viewers : []) {
        if (v && typeof v.viewer === 'string') into.set(v.viewer, Number(v.links) || 1);
      }
    };
    switch (event.type) {
      case 'presence.snapshot':
      case 'presence.snapshot.more':
        if (event.type === 'presence.snapshot') {
          this.#partial = new Map();
          if (typeof data.you === 'string') this.you = data.you;
        }
        if (!this.#partial) return false;
        add(this.#partial);
        if (data.complete === false) return false;
        this.viewers = this.#partial;
        this.#partial = undefined;
        return true;
      case 'presence.joined':
      case 'presence.updated':
        if (typeof data.viewer !== 'string') return false;
        this.viewers.set(data.viewer, Number(data.links) || 1);
        return true;
      case 'presence.left':
        return typeof data.viewer === 'string' && this.viewers.delete(data.viewer);
      default:
        return false;
    }
  }

  /** @returns {{viewer: string, links: number, you: boolean}[]} sorted: you first, then by handle */
  list() {
    return [...this.viewers]
      .map(([viewer, links]) => ({ viewer, links, you: viewer === this.you }))
      .sort((a, b) => Number(b.you) - Number(a.you) || a.viewer.localeCompare(b.viewer));
  }
}
