// The browser bench page: measures one path, chosen by ?path=
//   sw            view -> ViewSession -> service worker (GatewayLink) -> origin -> back
//                 (?worker=dedicated: the same through a dedicated worker)
//   window        GatewayLink in the window -> origin -> back (no worker hop)
//   raw           plain fetch pair + NDJSON codec in the window -> origin -> back
// against whatever origin serves the page (the gateway, or the Node relay). ?echo= names the
// service the round trips go through (default echo; worker-echo answers in the service
// worker itself: the bridge alone). Driven by browser-bench.mjs through
// `window.bench.run(options)`.

import { GatewayLink, GuestWorker, ViewSession, decodeEvents, encodeEvents } from '../../src/index.js';
import { echoAck } from '../../demo/guest-services.js';

/** @typedef {import('../../src/index.js').Event} Event */
/** @typedef {{writer: WritableStreamDefaultWriter<Event>, reader: ReadableStreamDefaultReader<Event>, close: () => Promise<void>}} Path */

const query = new URLSearchParams(location.search);
const which = query.get('path') ?? 'sw';
/** how the sw path's bridge carries streams (bridge.js): auto, transfer or port */
const mode = /** @type {import('../../src/bridge.js').BridgeMode} */ (query.get('mode') ?? 'auto');
const echoService = query.get('echo') ?? 'echo';
let links = 0;

/** @type {Promise<GuestWorker> | undefined} */
let worker;

/**
 * Opens `service` on the chosen path.
 *
 * @param {string} service
 * @param {Record<string, string>} [params]
 * @returns {Promise<Path>}
 */
async function open(service, params = {}) {
  const link = `bench-${Date.now().toString(36)}-${++links}`;
  if (which === 'sw') {
    worker ??=
      query.get('worker') === 'dedicated'
        ? Promise.resolve(GuestWorker.dedicated(new URL('bench-worker.js?upload=stream', import.meta.url)))
        : GuestWorker.service(new URL('bench-worker.js?upload=stream', import.meta.url));
    const session = new ViewSession({ worker: await worker, service, params, mode, ackMatcher: echoAck });
    await session.opened;
    return pair(session.readable, session.writable, () => session.close());
  }
  if (which === 'window') {
    const gl = new GatewayLink({ baseUrl: location.origin, service, link, params, ackMatcher: echoAck, uploadMode: 'stream' });
    return pair(gl.readable, gl.writable, () => gl.close());
  }
  // raw: what a page does with nothing but fetch and the NDJSON codec.
  const guest = (await (await fetch('/guest', { method: 'POST' })).json()).guest;
  const headers = { 'eventpaths-guest': guest };
  const encoder = encodeEvents();
  const abort = new AbortController();
  void fetch(`/g/${service}/${link}/up`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/x-ndjson' },
    body: encoder.readable,
    // @ts-ignore
    duplex: 'half',
    signal: abort.signal,
  }).catch(() => {});
  const writer = encoder.writable.getWriter();
  void writer.write({ type: 'link.heartbeat', data: {} });
  const down = await fetch(`/g/${service}/${link}/down?${new URLSearchParams(params)}`, { headers, signal: abort.signal });
  const events = /** @type {ReadableStream<Uint8Array>} */ (down.body).pipeThrough(decodeEvents());
  const reader = events.getReader();
  return {
    writer,
    reader: filtered(reader),
    close: async () => abort.abort(),
  };
}

/**
 * @param {ReadableStream<Event>} readable
 * @param {WritableStream<Event>} writable
 * @param {() => Promise<void>} close
 * @returns {Path}
 */
function pair(readable, writable, close) {
  return { writer: writable.getWriter(), reader: filtered(readable.getReader()), close };
}

/**
 * A reader that skips control events (and fails on errors: a bench run must be clean).
 *
 * @param {ReadableStreamDefaultReader<Event>} reader
 * @returns {ReadableStreamDefaultReader<Event>}
 */
function filtered(reader) {
  return /** @type {any} */ ({
    async read() {
      for (;;) {
        const step = await reader.read();
        if (step.done) return step;
        const t = step.value.type;
        if (t === 'link.error') throw new Error(`link.error ${JSON.stringify(step.value.data)}`);
        if (t === 'link.heartbeat' || t === 'link.ready' || t === 'link.status') continue;
        return step;
      }
    },
    cancel: (/** @type {unknown} */ r) => reader.cancel(r),
    releaseLock: () => reader.releaseLock(),
  });
}

/** @param {number[]} sorted @param {number} q */
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/** Round trip, one event at a time: each write waits for its echo. */
async function latency(/** @type {number} */ count, /** @type {number} */ warmup) {
  const p = await open(echoService);
  const times = [];
  for (let i = 1; i <= warmup + count; i++) {
    const t = performance.now();
    await p.writer.write({ type: 'bench.ping', id: `l${i}`, seq: i, data: { i } });
    const { value } = await p.reader.read();
    if (value?.seq !== i) throw new Error(`expected echo ${i}, got ${JSON.stringify(value)}`);
    if (i > warmup) times.push(performance.now() - t);
  }
  await p.close();
  times.sort((a, b) => a - b);
  return { p50: quantile(times, 0.5), p99: quantile(times, 0.99), max: times.at(-1) };
}

/** Round trip, pipelined: writes as fast as the path takes them, reads at the same time. */
async function roundTrip(/** @type {number} */ count) {
  const p = await open(echoService);
  const t = performance.now();
  const writing = (async () => {
    for (let i = 1; i <= count; i++) await p.writer.write({ type: 'bench.item', id: `r${i}`, seq: i, data: { i } });
  })();
  for (let i = 1; i <= count; i++) {
    const { value } = await p.reader.read();
    if (value?.seq !== i) throw new Error(`expected ${i}, got ${JSON.stringify(value)}`);
  }
  await writing;
  const ms = performance.now() - t;
  await p.close();
  return { eventsPerSec: (count / ms) * 1000 };
}

/**
 * The two legs of a round trip, one event at a time, on the raw path against the Node relay:
 * its `stamp` service sets `data.at` to its clock (Unix ms) when the event arrived, and the
 * page's clock is on the same time line (performance.timeOrigin), so upload leg = at - sent
 * and download leg = received - at. Both clocks are this machine's; the page's is in 5 us
 * steps (cross-origin isolated: the relay serves it with COOP + COEP, as the gateway does).
 */
async function legs(/** @type {number} */ count) {
  const p = await open('stamp');
  const now = () => performance.timeOrigin + performance.now();
  const up = [];
  const down = [];
  for (let i = 1; i <= count; i++) {
    const sent = now();
    await p.writer.write({ type: 'bench.ping', seq: i, data: { i } });
    const { value } = await p.reader.read();
    const at = /** @type {{at?: number}} */ (value?.data)?.at;
    if (value?.seq !== i || typeof at !== 'number') throw new Error(`expected a stamped ${i}, got ${JSON.stringify(value)}`);
    up.push(at - sent);
    down.push(now() - at);
  }
  await p.close();
  up.sort((a, b) => a - b);
  down.sort((a, b) => a - b);
  return { upP50: quantile(up, 0.5), downP50: quantile(down, 0.5) };
}

/**
 * The three hops of a round trip on the worker paths, one event at a time, through the
 * bench worker's `echo-hops` (bench-worker.js), which puts the worker's clock on each event as
 * it comes in and as it goes out: window -> worker, worker -> gateway -> echo -> worker,
 * worker -> window. The page and the worker are cross-origin isolated, so both clocks are
 * on one time line in 5 us steps. Its two stamping stages make `total` a little more than
 * the plain echo's round trip.
 */
async function hops(/** @type {number} */ count, /** @type {number} */ warmup) {
  const p = await open('echo-hops');
  const now = () => performance.timeOrigin + performance.now();
  /** @type {number[][]} */
  const legs = [[], [], [], []];
  for (let i = 1; i <= warmup + count; i++) {
    const sent = now();
    await p.writer.write({ type: 'bench.ping', id: `h${i}`, seq: i, data: { i } });
    const { value } = await p.reader.read();
    const back = now();
    const { inAt, outAt } = /** @type {{inAt?: number, outAt?: number}} */ (value?.data ?? {});
    if (value?.seq !== i || typeof inAt !== 'number' || typeof outAt !== 'number') {
      throw new Error(`expected a stamped ${i}, got ${JSON.stringify(value)}`);
    }
    if (i > warmup) [inAt - sent, outAt - inAt, back - outAt, back - sent].forEach((ms, leg) => legs[leg].push(ms));
  }
  await p.close();
  const [toWorker, network, toView, total] = legs.map((ms) => quantile(ms.sort((a, b) => a - b), 0.5));
  return { toWorker, network, toView, total };
}

/** Host -> view: the source service emits `count` events of ~100 bytes. */
async function down(/** @type {number} */ count) {
  const p = await open('source', { n: String(count), size: '100' });
  const first = await p.reader.read();
  if (first.value?.seq !== 1) throw new Error(`expected seq 1, got ${JSON.stringify(first.value)}`);
  const t = performance.now();
  for (let i = 2; i <= count; i++) {
    const { value } = await p.reader.read();
    if (value?.seq !== i) throw new Error(`expected ${i}, got ${JSON.stringify(value)}`);
  }
  const ms = performance.now() - t;
  await p.close();
  return { eventsPerSec: ((count - 1) / ms) * 1000 };
}

/** View -> host: `count` writes (no id: fire and forget) into the sink, until it counted them. */
async function up(/** @type {number} */ count) {
  const p = await open('sink');
  const t = performance.now();
  for (let i = 1; i <= count; i++) await p.writer.write({ type: 'bench.item', data: { i, pad: 'x'.repeat(80) } });
  await p.writer.close();
  const { value } = await p.reader.read();
  const ms = performance.now() - t;
  const got = /** @type {any} */ (value?.data)?.count;
  if (value?.type !== 'sink.done' || got !== count) throw new Error(`sink answered ${JSON.stringify(value)}`);
  await p.close();
  return { eventsPerSec: (count / ms) * 1000 };
}

/** @type {any} */ (window).bench = {
  path: which,
  /**
   * @param {{latency: number, warmup: number, throughput: number, phases?: string[]}} n  phases: a subset of
   *   latency, roundTrip, down, up, legs, hops (default the first four, in that order; legs
   *   needs the raw path and the Node relay, hops a worker path)
   */
  async run(n) {
    const out = /** @type {HTMLElement} */ (document.getElementById('out'));
    const phases = n.phases ?? ['latency', 'roundTrip', 'down', 'up'];
    /** @type {Record<string, unknown>} */
    const result = {};
    if (phases.includes('latency')) result.latency = await latency(n.latency, n.warmup);
    if (phases.includes('roundTrip')) result.roundTrip = await roundTrip(n.throughput);
    if (phases.includes('down')) result.down = await down(n.throughput);
    if (phases.includes('up')) result.up = await up(n.throughput);
    if (phases.includes('legs')) result.legs = await legs(n.latency);
    if (phases.includes('hops')) result.hops = await hops(n.latency, n.warmup);
    result.isolated = globalThis.crossOriginIsolated;
    out.textContent = JSON.stringify(result, null, 1);
    return result;
  },
};
document.getElementById('out')?.replaceChildren(`ready: ${which}`);

/**
 * `?auto=<json>`: the whole measurement of this path, run by the page itself and reported
 * through its console log (browser-bench.mjs reads a Chromium that has no debugger attached:
 * a DevTools connection, Playwright's, made this path measurably slower). Options: what
 * `run` takes, plus `passes` (pipelined round-trip passes in all, the first in the run;
 * default 3). Logs, in order:
 *   EP-WARM <round trips/s>   after each untimed pass (at least 3, then until one is within
 *                             10% of the one before, at most 8)
 *   EP-MARK start, EP-MARK end  around the extra round-trip passes (the bench reads the
 *                             worker thread's CPU time at each)
 *   EP-BENCH <result>         the run's result, `roundTrip.passes` holding every pass's rate
 *   EP-FAILED <message>       instead, if anything failed
 */
async function auto(/** @type {any} */ options) {
  const { passes = 3, ...n } = options;
  const bench = /** @type {any} */ (window).bench;
  // Untimed passes first: the page's and the worker's JavaScript JIT (V8 keeps tiering up
  // for seconds: one short pass left the service-worker path at two thirds of its later
  // rate), connections, the worker.
  const warmPhases = (n.phases ?? []).filter((/** @type {string} */ p) => p !== 'legs' && p !== 'hops');
  let before = 0;
  for (let pass = 1; pass <= 8; pass++) {
    const rate = (await bench.run({ latency: 300, warmup: 0, throughput: n.throughput, phases: warmPhases })).roundTrip.eventsPerSec;
    console.log(`EP-WARM ${Math.round(rate)}`);
    if (pass >= 3 && Math.abs(rate - before) <= 0.1 * before) break;
    before = rate;
  }
  const result = await bench.run(n);
  const rates = [result.roundTrip.eventsPerSec];
  console.log('EP-MARK start');
  for (let pass = 1; pass < passes; pass++) rates.push((await bench.run({ ...n, phases: ['roundTrip'] })).roundTrip.eventsPerSec);
  console.log('EP-MARK end');
  result.roundTrip.passes = rates;
  console.log(`EP-BENCH ${JSON.stringify(result)}`);
}

const autoOptions = query.get('auto');
if (autoOptions) auto(JSON.parse(autoOptions)).catch((error) => console.log(`EP-FAILED ${JSON.stringify(String(error))}`));
