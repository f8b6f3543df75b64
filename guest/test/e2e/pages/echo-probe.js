// An e2e probe page: a view that sends numbered writes (id `${tab}-${n}`, seq n) to the
// demo's "echo" guest service and checks what comes back: every write echoed once, in
// order, nothing else. Playwright drives it through `window.probe`; the service-worker
// lifetime test, which must run Chromium without Playwright, runs it with ?autorun=1 and
// reads its reports from the browser's console log (lines starting `EP-`).
//
// Query: worker=service|dedicated, upload=auto|stream|batch, bridge=auto|transfer|port,
// ping=<ms between liveness pings>, stall=<ms>, tab=<name>; autorun: count, interval,
// until=<ms to keep sending>.

import { GuestWorker, defineViewService, startViewService } from '../../../src/index.js';

const query = new URLSearchParams(location.search);
const num = (/** @type {string} */ key, /** @type {number} */ dflt) => Number(query.get(key) ?? dflt);
const tab = query.get('tab') ?? Math.random().toString(36).slice(2, 8);
const t0 = performance.now();
const now = () => Math.round(performance.now() - t0);

const state = {
  tab,
  sent: 0,
  target: 0,
  received: 0,
  /** @type {string[]} ids echoed twice */
  duplicates: [],
  /** @type {string[]} events that came back out of order, or were never sent */
  unexpected: [],
  /** @type {{at: number, reason: string, reconnect: boolean, message: string}[]} */
  errors: [],
  /** @type {{at: number, bridge: string, links: Record<string, string>, uploads: Record<string, string>}[]} */
  statuses: [],
  /** @type {{at: number, instance: string | undefined}[]} bridge instances, as they change */
  instances: [],
  lastEchoAt: 0,
  /** the longest time without an echo: when the worker was stopped, and for how long */
  longestGap: { from: 0, ms: 0 },
  done: false,
};
/** @type {Set<string>} */
const seen = new Set();
let lastSeq = 0;
/** @type {() => void} */
let wakeSender = () => {};

const view = defineViewService('echo-probe', (input) => {
  (async () => {
    for await (const event of input) {
      if (event.type === 'link.error') {
        const data = /** @type {any} */ (event.data);
        state.errors.push({ at: now(), reason: data.reason, reconnect: !!data.reconnect, message: data.message });
        log('EP-ERROR', data.reason, data.message);
        continue;
      }
      const id = String(event.id);
      if (seen.has(id)) state.duplicates.push(id);
      else if (event.type !== 'probe.echo' || !id.startsWith(`${tab}-`) || event.seq !== lastSeq + 1) {
        state.unexpected.push(JSON.stringify(event));
      }
      seen.add(id);
      lastSeq = Math.max(lastSeq, event.seq ?? 0);
      state.received = seen.size;
      const at = now();
      if (state.lastEchoAt > 0 && at - state.lastEchoAt > state.longestGap.ms) {
        state.longestGap = { from: state.lastEchoAt, ms: at - state.lastEchoAt };
      }
      state.lastEchoAt = at;
    }
    state.done = true;
  })().catch((error) => state.errors.push({ at: now(), reason: 'view_failed', reconnect: false, message: String(error) }));

  // Pull-based: a write is made only when the session asks for one (its queue has room)
  // and the harness wants more, so backpressure from the whole path reaches this source.
  const interval = num('interval', 0);
  return new ReadableStream(
    {
      async pull(controller) {
        while (state.sent >= state.target) await new Promise((resolve) => (wakeSender = () => resolve(undefined)));
        if (interval > 0) await new Promise((resolve) => setTimeout(resolve, interval));
        const n = ++state.sent;
        controller.enqueue({ type: 'probe.echo', id: `${tab}-${n}`, seq: n, data: { n, at: now() } });
      },
    },
    { highWaterMark: 0 },
  );
});

/** @param {...unknown} parts */
function log(...parts) {
  console.log(parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(' '));
}

async function start() {
  const config = `?upload=${encodeURIComponent(query.get('upload') ?? 'auto')}`;
  const watch = { pingIntervalMs: num('ping', 15_000), pingTimeoutMs: num('pingTimeout', 5_000) };
  const worker =
    query.get('worker') === 'dedicated'
      ? GuestWorker.dedicated(new URL(`../../../demo/demo-worker.js${config}`, import.meta.url), watch)
      : await GuestWorker.service(new URL(`../../../demo/demo-sw.js${config}`, import.meta.url), watch);
  const { session } = await startViewService(view, {
    worker,
    service: 'echo',
    mode: /** @type {any} */ (query.get('bridge') ?? 'auto'),
    onStatus: (status) => {
      state.statuses.push({ at: now(), ...status });
      log('EP-STATUS', status);
    },
    session: {
      stallMs: num('stall', 5_000),
      ackMatcher: (event) => (event.type.startsWith('link.') ? undefined : event.id),
    },
  });
  const noteInstance = () => {
    const instance = session.instance;
    if (state.instances.at(-1)?.instance !== instance) {
      state.instances.push({ at: now(), instance });
      log('EP-INSTANCE', instance);
    }
  };
  noteInstance();
  setInterval(noteInstance, 100);
  return session;
}

const ready = start();

const probe = {
  ready: ready.then(() => true),
  /** Sends `count` more writes (as fast as the path takes them, or every ?interval ms). */
  send(/** @type {number} */ count) {
    state.target += count;
    wakeSender();
  },
  state: () => JSON.parse(JSON.stringify({ ...state, missing: missing() })),
  /** @returns {string[]} ids sent and not (yet) echoed */
  missing,
};
/** @type {any} */ (window).probe = probe;

function missing() {
  const out = [];
  for (let n = 1; n <= state.sent; n++) if (!seen.has(`${tab}-${n}`)) out.push(`${tab}-${n}`);
  return out;
}

setInterval(() => {
  const el = document.getElementById('state');
  if (el) el.textContent = JSON.stringify({ ...state, statuses: state.statuses.length }, null, 1);
}, 250);

if (query.get('autorun')) {
  // The lifetime test: keep writing for ?until ms (through the worker being stopped and
  // started again), then wait until every write is echoed and report.
  (async () => {
    await ready;
    log('EP-READY', { tab });
    const until = num('until', 45_000);
    const writer = setInterval(() => probe.send(1), Math.max(1, num('every', 100)));
    const progress = setInterval(() => log('EP-PROGRESS', { at: now(), sent: state.sent, received: state.received }), 5_000);
    await new Promise((resolve) => setTimeout(resolve, until));
    clearInterval(writer);
    const deadline = now() + num('drain', 20_000);
    while (state.received < state.sent && now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    clearInterval(progress);
    log('EP-RESULT', probe.state());
  })().catch((error) => log('EP-RESULT', { failed: String(error) }));
}
