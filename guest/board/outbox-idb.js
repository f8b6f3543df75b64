// The outbox's store in IndexedDB (see outbox.js): one object store, `commands`, keyed by
// command id. A put or delete resolves when its transaction has completed, so a command the
// write service reports as stored is on disk as far as the browser promises.

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

/** @implements {OutboxStore} */
export class IdbOutboxStore {
  /** @type {Promise<IDBDatabase>} */
  #db;

  /** @param {IDBFactory} [idb] */
  constructor(idb = indexedDB) {
    const open = idb.open(DB_NAME, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(STORE, { keyPath: 'id' });
    this.#db = done(open);
  }

  /** @returns {Promise<OutboxRecord[]>} */
  async load() {
    const db = await this.#db;
    return done(db.transaction(STORE, 'readonly').objectStore(STORE).getAll());
  }

  /** @param {OutboxRecord} record */
  async put(record) {
    const tx = (await this.#db).transaction(STORE, 'readwrite', { durability: 'strict' });
    tx.objectStore(STORE).put(record);
    await committed(tx);
  }

  /** @param {string} id */
  async delete(id) {
    const tx = (await this.#db).transaction(STORE, 'readwrite');
    tx.objectStore(STORE).delete(id);
    await committed(tx);
  }
}
