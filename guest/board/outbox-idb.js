// The outbox's store in IndexedDB (see outbox.js): one object store, `commands`, keyed by
// command id. A put or delete resolves when its transaction has completed, so a command the
// write service reports as stored is on disk as far as the browser promises. Puts and deletes
// that come while a transaction commits share the next one (GroupCommit).

const DB_NAME = 'eventpaths-board-outbox';
const STORE = 'commands';

/** @typedef {import('./outbox.js').OutboxRecord} OutboxRecord */
/** @typedef {import('./outbox.js').OutboxStore} OutboxStore */

/**
 * @template T
 * @param {IDBRequest<T>} request
 * @returns {Promise<T>}
 */
const done = (request) =>
  new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

/** @param {IDBTransaction} tx */
const committed = (tx) =>
  new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve(undefined);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('transaction aborted'));
  });

/**
 * Writes given while a transaction is committing wait and go together in the next one: a
 * strict IndexedDB commit costs 1-11 ms here (a flush to disk), so a burst of commands, or of
 * their deletes as tasks-write acknowledges them, costs a few commits instead of one each.
 * Operations apply in the order they were given; each resolves once its transaction has
 * completed, and a failed transaction fails only the operations that were in it.
 *
 * @template Op
 */
export class GroupCommit {
  /** @type {{op: Op, resolve: (v: undefined) => void, reject: (e: unknown) => void}[]} */
  #waiting = [];
  #busy = false;
  #commit;
  #max;

  /**
   * @param {(ops: Op[]) => Promise<void>} commit writes the operations in one transaction,
   *   resolving once it is durable
   * @param {number} [max] most operations in one transaction
   */
  constructor(commit, max = 256) {
    this.#commit = commit;
    this.#max = max;
  }

  /**
   * @param {Op} op
   * @returns {Promise<void>}
   */
  run(op) {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ op, resolve, reject });
      if (!this.#busy) void this.#drain();
    });
  }

  async #drain() {
    // The first write goes at once (a lone change waits for nothing); what comes while it
    // commits goes in the next transaction.
    this.#busy = true;
    while (this.#waiting.length) {
      const batch = this.#waiting.splice(0, this.#max);
      try {
        await this.#commit(batch.map((w) => w.op));
        for (const w of batch) w.resolve(undefined);
      } catch (error) {
        for (const w of batch) w.reject(error);
      }
    }
    this.#busy = false;
  }
}

/** @typedef {{put: OutboxRecord} | {delete: string}} StoreOp */

/** @implements {OutboxStore} */
export class IdbOutboxStore {
  /** @type {Promise<IDBDatabase>} */
  #db;
  /** @type {GroupCommit<StoreOp>} */
  #writes;

  /** @param {IDBFactory} [idb] */
  constructor(idb = indexedDB) {
    const open = idb.open(DB_NAME, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE, { keyPath: 'id' });
    this.#db = done(open);
    this.#writes = new GroupCommit(async (ops) => {
      // Strict when it stores a command (the write service says "stored" after it); a batch of
      // deletes only may be lost in a crash, and then the command is sent again and applied once.
      const durability = ops.some((op) => 'put' in op) ? 'strict' : 'default';
      const tx = (await this.#db).transaction(STORE, 'readwrite', { durability });
      const store = tx.objectStore(STORE);
      for (const op of ops) {
        if ('put' in op) store.put(op.put);
        else store.delete(op.delete);
      }
      await committed(tx);
    });
  }

  /** @returns {Promise<OutboxRecord[]>} */
  async load() {
    const db = await this.#db;
    return done(db.transaction(STORE, 'readonly').objectStore(STORE).getAll());
  }

  /** @param {OutboxRecord} record */
  put(record) {
    return this.#writes.run({ put: record });
  }

  /** @param {string} id */
  delete(id) {
    return this.#writes.run({ delete: id });
  }
}
