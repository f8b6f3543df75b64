// The healthy guest link that runs beside the attacks: its own TLS connection and guest, an
// echo link, one event every 100 ms. Every event must come back, in order, within 1 s; what
// does not is written down as a problem with the time it happened, for the file's verdict.
// It runs in a worker thread, so the attacks' own work in the test's event loop (hundreds of
// TLS handshakes, floods) does not count against the gateway.

import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { GuestConnection } from '../../../../../guest/test/e2e/support/guest-h2.mjs';

const EVERY_MS = 100;
const BUDGET_MS = 1000;

/** The worker's handle, in the test's thread. */
export class HealthyLinkWorker {
  /** Starts the link in a worker; resolves once it runs. */
  static start(origin, ca) {
    const worker = new Worker(new URL(import.meta.url), { workerData: { origin, ca } });
    return new Promise((resolve, reject) => {
      worker.once('message', (m) => (m.started ? resolve(new HealthyLinkWorker(worker)) : reject(new Error(m.error))));
      worker.once('error', reject);
    });
  }

  constructor(worker) {
    this.worker = worker;
  }

  /** Stops the link and resolves with its report. */
  finish() {
    return new Promise((resolve, reject) => {
      this.worker.once('message', (report) => { resolve(report); this.worker.terminate(); });
      this.worker.once('error', reject);
      this.worker.postMessage('finish');
    });
  }

  stop() {
    this.worker.terminate();
  }
}

class HealthyLink {
  /** @param {string} origin @param {string} ca */
  static async start(origin, ca) {
    const conn = await GuestConnection.open(origin, ca);
    const guest = await conn.newGuest();
    await warmUp(conn, guest);
    const link = await conn.link(guest, 'echo', 'healthy');
    if (!link.ok) throw new Error(`the healthy link did not open: ${JSON.stringify(link.body ?? link.event)}`);
    return new HealthyLink(conn, link);
  }

  constructor(conn, link) {
    Object.assign(this, { conn, link });
    this.t0 = Date.now();
    this.sent = 0;
    this.received = 0;
    this.slowestMs = 0;
    /** @type {string[]} */
    this.problems = [];
    /** @type {Map<number, number>} n -> time sent */
    this.outstanding = new Map();
    this.flagged = new Set();
    link.down.onEvent = (e) => this.onEvent(e);
    link.down.ended.then(() => { if (!this.stopped) this.problem('the healthy download ended'); });
    conn.closed.then(() => { if (!this.stopped) this.problem('the healthy connection closed'); });
    this.sender = setInterval(() => this.send(), EVERY_MS);
    this.watchdog = setInterval(() => this.watch(), 50);
  }

  problem(what) {
    if (this.problems.length < 20) this.problems.push(`+${((Date.now() - this.t0) / 1000).toFixed(1)} s: ${what}`);
  }

  send() {
    const n = ++this.sent;
    this.outstanding.set(n, Date.now());
    this.link.up.send({ type: 'healthy.ping', id: `h-${n}`, data: { n } });
  }

  onEvent(e) {
    if (e.type !== 'healthy.ping') {
      this.problem(`unexpected ${JSON.stringify(e).slice(0, 200)}`);
      return;
    }
    const n = e.data?.n;
    const at = this.outstanding.get(n);
    if (at === undefined) {
      this.problem(`echo of ${n}, not outstanding`);
      return;
    }
    const first = Math.min(...this.outstanding.keys());
    if (n !== first) this.problem(`echo of ${n} before ${first}`);
    this.outstanding.delete(n);
    this.received++;
    const ms = Date.now() - at;
    this.slowestMs = Math.max(this.slowestMs, ms);
  }

  watch() {
    const now = Date.now();
    for (const [n, at] of this.outstanding) {
      if (now - at > BUDGET_MS && !this.flagged.has(n)) {
        this.flagged.add(n);
        this.problem(`event ${n} waited over ${BUDGET_MS} ms`);
      }
    }
  }

  /** Stops sending, waits for the last echoes (at most 2 s), closes, reports. */
  async finish() {
    while (this.sent < 10) await new Promise((r) => setTimeout(r, 20)); // a verdict on a second at least
    clearInterval(this.sender);
    const deadline = Date.now() + 2000;
    while (this.outstanding.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    this.watch();
    this.stop();
    if (this.outstanding.size > 0) this.problem(`${this.outstanding.size} events never came back`);
    return { sent: this.sent, received: this.received, slowestMs: this.slowestMs, problems: this.problems };
  }

  stop() {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.sender);
    clearInterval(this.watchdog);
    this.conn.close();
  }
}

/**
 * A cold JVM is not an attack: a few hundred round trips on a throwaway link first, so the
 * gateway's and echo's paths are compiled before the clock starts.
 */
async function warmUp(conn, guest) {
  const l = await conn.link(guest, 'echo', 'warm-up');
  if (!l.ok) throw new Error(`the warm-up link did not open: ${JSON.stringify(l.body ?? l.event)}`);
  for (let round = 0; round < 20; round++) {
    const got = new Promise((resolve) => { l.down.onEvent = (e) => { if (e.data?.last) resolve(); }; });
    for (let i = 0; i < 50; i++) l.up.send({ type: 'warm.up', data: { last: i === 49 } });
    await got;
  }
  l.up.close();
  l.down.close();
}

if (!isMainThread && workerData?.origin) {
  HealthyLink.start(workerData.origin, workerData.ca).then((link) => {
    parentPort.postMessage({ started: true });
    parentPort.on('message', async (m) => {
      if (m === 'finish') parentPort.postMessage(await link.finish());
    });
  }, (e) => parentPort.postMessage({ error: String(e?.stack ?? e) }));
}
