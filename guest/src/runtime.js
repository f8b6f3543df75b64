// The public face of the guest runtime: services are functions from a stream of events to
// a stream of events; this file wires them to each other, across the window/worker bridge
// and to host services through the gateway.

import { acceptConnections, answerPings } from './bridge.js';
import { GatewayLink, GuestIdentity } from './gateway-link.js';
import { ViewSession } from './session.js';
import { frame, unframe } from './frames.js';
import { reportingWriter } from './checked-writable.js';

/** @typedef {import('./event.js').Event} Event */
/** @typedef {import('./gateway-link.js').GatewayLinkOptions} GatewayLinkOptions */
/** @typedef {import('./bridge.js').PostTarget} PostTarget */
/** @typedef {import('./bridge.js').ListenTarget} ListenTarget */

/**
 * A pair of streams: what a link or a TransformStream is.
 *
 * @typedef {object} StreamPair
 * @property {ReadableStream<Event>} readable
 * @property {WritableStream<Event>} writable
 */

/**
 * What a service gets besides its input.
 *
 * @typedef {object} ServiceContext
 * @property {string} name the service's name
 * @property {AbortSignal} signal aborted once the service's output has ended, failed or been
 *   cancelled: a service that reads its input by hand, or holds timers, stops then
 * @property {(name: string, options?: {params?: Record<string, string>}) => StreamPair} link
 *   the link to a host service the definition names under `name` (see `links`), opened on
 *   first use (with `options.params` as the download's query parameters, for the host
 *   service) and closed when the service ends: write events for the host to `writable`, read
 *   the host's events from `readable` (see {@link GatewayLink} for its contract: resume,
 *   retried writes, `link.error` events). Its status changes reach the window as
 *   `link.status` events, which the window's session consumes
 * @property {number | undefined} resumeAfter the last `seq` of this service's output the
 *   window has already seen, when this run replaces one whose worker was stopped: produce
 *   only what comes after it (links declared with `resume: true` do so by themselves)
 * @property {Readonly<Record<string, unknown>> | undefined} params what the window asked of this
 *   run (`startViewService`'s `params`): for example which board to follow
 */

/**
 * How a guest service reaches one host service: its name, or options.
 *
 * @typedef {object} LinkDefinition
 * @property {string} service the host service's public name at the gateway
 * @property {boolean} [resume] this link's events are the service's output, `seq` and all:
 *   open it with `resumeAfter: ctx.resumeAfter`, so a restarted worker resumes where the
 *   window left off
 * @property {Omit<Partial<GatewayLinkOptions>, 'service' | 'link' | 'baseUrl' | 'guest'>} [options]
 *   for this link's {@link GatewayLink} (ackMatcher, uploadMode, limits...)
 */

/**
 * A service. It gets the stream of events sent to it and returns the stream of events it
 * sends: a ReadableStream, or a TransformStream (any `{readable, writable}` pair), which is
 * fed the input.
 *
 * The stream contract:
 * - Backpressure: read the input only as fast as you can handle it, and produce output from
 *   `pull` (or through a TransformStream) so you produce only as fast as your reader reads.
 *   Not reading is how a service slows its producer: across the bridge and the gateway, no
 *   queue grows without bound.
 * - Completion: the input completes when the peer has nothing more to send; the service may
 *   keep sending. The conversation is over when the output completes.
 * - Cancellation: when the reader of the output cancels it, the cancel reaches the output
 *   (and through pipes, the input), and `ctx.signal` aborts.
 * - Errors: an input that fails (the peer failed, or its connection is gone) rejects its
 *   reads; pass the failure on by failing the output (pipes do this). A failed output
 *   reaches the peer as a failure and cancels the input.
 * - Resume: a guest service runs in a worker the browser may stop at any time; the window
 *   then connects to a new run. If the output carries `seq`, it must increase: the window
 *   drops replays by it, and gives the last one it saw to the new run as `ctx.resumeAfter`.
 *   Writes from the window with an `id` are sent again to the new run until an event in the
 *   output acknowledges them (see `ackMatcher`), so apply them by `id`.
 *
 * @callback ServiceFunction
 * @param {ReadableStream<Event>} input
 * @param {ServiceContext} ctx
 * @returns {ReadableStream<Event> | StreamPair}
 */

/**
 * @typedef {object} ServiceDefinition
 * @property {string} name
 * @property {'guest' | 'view'} kind guest services (read and write) run in the worker; view
 *   services run in the window
 * @property {ServiceFunction} fn
 * @property {Readonly<Record<string, LinkDefinition>>} links local link name -> host service
 */

/** @type {Map<string, ServiceDefinition>} */
const guestServices = new Map();

/**
 * Defines a read or write guest service, run in the worker for each window that connects
 * to it by `name`.
 *
 * @example
 * defineGuestService('tasks', (input, ctx) => {
 *   const store = ctx.link('store'); // the host service 'task-store', via the gateway
 *   input.pipeTo(store.writable).catch(() => {});
 *   return store.readable;
 * }, { links: { store: 'task-store' } });
 *
 * @param {string} name
 * @param {ServiceFunction} fn
 * @param {{links?: Record<string, string | LinkDefinition>}} [options] the host services it
 *   links to, by the name the service uses in `ctx.link(name)`
 * @returns {ServiceDefinition}
 */
export function defineGuestService(name, fn, { links = {} } = {}) {
  /** @type {Record<string, LinkDefinition>} */
  const normal = {};
  for (const [local, def] of Object.entries(links)) {
    normal[local] = Object.freeze(typeof def === 'string' ? { service: def } : { ...def });
  }
  const definition = Object.freeze({ name, kind: /** @type {const} */ ('guest'), fn, links: Object.freeze(normal) });
  guestServices.set(name, definition);
  return definition;
}

/**
 * Defines a view service: it runs in the window, renders from its input and sends events
 * (the user's actions) as its output. Start it with {@link startViewService}.
 *
 * @param {string} name
 * @param {ServiceFunction} fn
 * @returns {ServiceDefinition}
 */
export function defineViewService(name, fn) {
  return Object.freeze({ name, kind: /** @type {const} */ ('view'), fn, links: Object.freeze({}) });
}

/**
 * @typedef {object} ServeOptions
 * @property {string} gateway the gateway's base URL (usually the worker's origin)
 * @property {ListenTarget} [scope] where windows connect: default the worker's `self`
 * @property {Iterable<ServiceDefinition>} [services] default: every guest service defined
 * @property {Omit<Partial<GatewayLinkOptions>, 'service' | 'link' | 'baseUrl'>} [linkOptions]
 *   passed to every {@link GatewayLink} (fetch, timers, limits...)
 */

/**
 * In the worker (gateway-guest-run): answers each window that connects, by name, with a
 * fresh run of that guest service, whose links to host services share one guest id; and
 * answers the window's liveness pings. A connection to an unknown name fails.
 *
 * Call it while the worker script is first evaluated: a service worker started again by a
 * message gets that message only if its listener was added synchronously.
 *
 * @param {ServeOptions} options
 * @returns {() => void} stops answering new connections and pings (running services go on)
 */
export function serveGuestServices({ gateway, scope, services, linkOptions = {} }) {
  const byName = new Map([...(services ?? guestServices.values())].map((s) => [s.name, s]));
  const guest = linkOptions.guest ?? new GuestIdentity({ baseUrl: gateway, fetch: linkOptions.fetch });
  let runs = 0;
  const target = scope ?? /** @type {ListenTarget} */ (/** @type {unknown} */ (globalThis));
  const stopPings = answerPings(target);
  const stopConnections = acceptConnections(target, (input, info) => {
    const service = info.name === undefined ? undefined : byName.get(info.name);
    if (!service) throw new Error(`no guest service named ${info.name}`);
    // Each run gets its own link names: two tabs on one worker must not share a pair.
    // The realm prefix keeps a restarted worker (whose run count starts again) off the
    // names of pairs the gateway may still hold for the stopped one.
    const run = `${runPrefix}${++runs}`;
    const hello = /** @type {{resumeAfter?: unknown, params?: unknown} | undefined} */ (info.hello);
    const params =
      hello?.params && typeof hello.params === 'object' ? /** @type {Record<string, unknown>} */ (hello.params) : undefined;
    const resumeAfter =
      typeof hello?.resumeAfter === 'number' && Number.isSafeInteger(hello.resumeAfter) && hello.resumeAfter >= 0
        ? hello.resumeAfter
        : undefined;
    // Arrays or single events in (frames.js); arrays out when the window asks for them.
    const events = input.pipeThrough(unframe());
    const output = superviseSource(
      service,
      events,
      (local, def, extra, onStatus) => {
        const name = `${service.name}-${local}-${run}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(-64);
        /** @type {GatewayLink | undefined} */
        let link;
        // The upload mode can change (to batches) when streaming turns out not to work here.
        const report = (/** @type {import('./gateway-link.js').LinkStatus} */ status) =>
          onStatus(status, link ? { upload: link.uploadMode } : {});
        link = new GatewayLink({
          ...linkOptions,
          ...def.options,
          ...(def.resume && resumeAfter !== undefined ? { resumeAfter } : {}),
          ...(extra.params ? { params: extra.params } : {}),
          onStatus: report,
          guest,
          baseUrl: gateway,
          service: def.service,
          link: name,
        });
        report(link.status);
        return link;
      },
      undefined,
      { resumeAfter, params },
    );
    return /** @type {{frames?: unknown}} */ (info.hello)?.frames === 'batch' ? frame(output) : readableOf(output);
  });
  return () => {
    stopConnections();
    stopPings();
  };
}

/** A short random prefix per realm for link names (see serveGuestServices). */
const runPrefix = Math.random().toString(36).slice(2, 8) + '-';

/**
 * @typedef {object} ViewOptions
 * @property {import('./worker-watch.js').GuestWorker | PostTarget} worker where the guest
 *   service runs: a watched GuestWorker (recommended: the session then survives the worker
 *   being stopped), or a bare Worker / MessagePort
 * @property {string} service the guest service's name
 * @property {import('./bridge.js').BridgeMode} [mode] how streams cross the bridge
 * @property {(status: import('./session.js').SessionStatus) => void} [onStatus] bridge and link status
 * @property {Record<string, unknown>} [params] structured-clonable; the guest service's `ctx.params`
 * @property {Omit<import('./session.js').SessionOptions, 'worker' | 'service' | 'mode' | 'onStatus' | 'params'>} [session]
 *   more session options (ackMatcher, maxPending, stallMs...)
 */

/**
 * In the window: starts a view service connected to the guest service `service` in the
 * worker, through a {@link ViewSession}: the guest service's output is the view's input and
 * the other way round, across worker restarts.
 *
 * @param {ServiceDefinition} view
 * @param {ViewOptions} options
 * @returns {Promise<{session: ViewSession, done: Promise<void>}>} resolves once the first
 *   bridge is open (fails if the worker refuses it); `done` settles when the view's output
 *   has ended and the session is over, and fails if the view's output failed
 */
export async function startViewService(view, { worker, service, mode, onStatus, params, session: more = {} }) {
  const session = new ViewSession({ ...more, worker, service, mode, onStatus, params });
  try {
    await session.opened;
  } catch (error) {
    await session.close(error);
    throw error;
  }
  const output = runService(view, session.readable);
  const done = (async () => {
    const reader = output.getReader();
    // A bad event from the view is skipped and reported on the view's own input (a
    // non-fatal link.error), and the view goes on: one bad write must not end it.
    const writer = reportingWriter(session.writable);
    // The session closing (the view cancelled its input, the service ended) ends the view's
    // output too: that is a normal end, not a failure of the view.
    writer.closed.catch(() => {});
    for (;;) {
      const step = await reader.read();
      if (step.done) break;
      try {
        await writer.write(step.value);
      } catch (error) {
        await reader.cancel(error).catch(() => {});
        if (session.status.bridge === 'closed') return;
        throw error;
      }
    }
    await writer.close().catch(() => {});
  })();
  return { session, done };
}

/**
 * Connects two services in the same realm: each one's output is the other's input.
 *
 * @param {ServiceDefinition} a
 * @param {ServiceDefinition} b
 * @returns {Promise<void>} settles when both outputs have ended (completed or cancelled);
 *   fails with the first failure if either output failed
 */
export async function connectServices(a, b) {
  const toA = new TransformStream(undefined, { highWaterMark: 1 }, { highWaterMark: 0 });
  /** @returns {[Promise<unknown>, (kind: EndKind, reason?: unknown) => void]} */
  const watch = () => {
    /** @type {(failure: unknown) => void} */
    let settle = () => {};
    const ended = new Promise((resolve) => (settle = resolve));
    return [ended, (kind, reason) => settle(kind === 'failed' ? { error: reason } : undefined)];
  };
  const [endedA, onEndA] = watch();
  const [endedB, onEndB] = watch();
  const outA = supervise(a, toA.readable, undefined, onEndA);
  const outB = supervise(b, outA, undefined, onEndB);
  // A cancel from either side ends this pipe as well; how each service ended is what counts.
  outB.pipeTo(toA.writable).catch(() => {});
  for (const failure of await Promise.all([endedA, endedB])) {
    if (failure) throw (/** @type {{error: unknown}} */ (failure)).error;
  }
}

/**
 * A link as a run sees it: a pair of streams that can be closed.
 *
 * @typedef {StreamPair & {close(reason?: unknown): Promise<void>}} OpenedLink
 */

/**
 * Opens a link for a run: `def` is its definition, `extra` what `ctx.link` was given, and
 * `onStatus` is to be called on each change of the link's status.
 *
 * @callback LinkOpener
 * @param {string} local
 * @param {LinkDefinition} def
 * @param {{params?: Record<string, string>}} extra
 * @param {(status: import('./gateway-link.js').LinkStatus, detail?: Record<string, unknown>) => void} onStatus
 *   `detail` is added to the `link.status` event's data
 * @returns {OpenedLink}
 */

/**
 * Runs one service on `input` and returns its output, supervised: when the output ends for
 * any reason, `ctx.signal` aborts and the service's links close. Each link's status change
 * is sent in the output as a `link.status` event (`data: {link, status, ...detail}`; a
 * gateway link adds `upload: 'stream' | 'batch'`). These events are the runtime's own: the
 * window's session consumes them, and they never go on the wire.
 *
 * @param {ServiceDefinition} service
 * @param {ReadableStream<Event>} input
 * @param {LinkOpener} [openLink]
 * @param {{resumeAfter?: number, params?: Record<string, unknown>}} [options] for `ctx`
 * @returns {ReadableStream<Event>}
 */
export function runService(service, input, openLink, options = {}) {
  return supervise(service, input, openLink, undefined, options);
}

/** @typedef {'completed' | 'cancelled' | 'failed'} EndKind */

/**
 * What the runtime reads a supervised output through: a stream reader's `read` and
 * `cancel`, one read at a time. Internal: it lets the worker frame a service's output
 * (frames.js) without a ReadableStream hop per event in between.
 *
 * @typedef {object} EventSource
 * @property {() => Promise<ReadableStreamReadResult<Event>>} read
 * @property {(reason?: unknown) => Promise<void>} cancel
 */

/**
 * {@link runService}, telling `onEnd` how the output ended.
 *
 * @param {ServiceDefinition} service
 * @param {ReadableStream<Event>} input
 * @param {LinkOpener | undefined} openLink
 * @param {(kind: EndKind, reason?: unknown) => void} [onEnd]
 * @param {{resumeAfter?: number, params?: Record<string, unknown>}} [extras] for `ctx`
 * @returns {ReadableStream<Event>}
 */
function supervise(service, input, openLink, onEnd, extras = {}) {
  return readableOf(superviseSource(service, input, openLink, onEnd, extras));
}

/**
 * A source as a ReadableStream with no buffer of its own: each read of the stream is one
 * read of the source, and cancelling it cancels the source.
 *
 * @param {EventSource} source
 * @returns {ReadableStream<Event>}
 */
function readableOf(source) {
  return new ReadableStream(
    {
      async pull(controller) {
        const step = await source.read();
        if (step.done) controller.close();
        else controller.enqueue(step.value);
      },
      cancel: (reason) => source.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}

/**
 * The supervision itself ({@link supervise}), as an {@link EventSource}.
 *
 * @param {ServiceDefinition} service
 * @param {ReadableStream<Event>} input
 * @param {LinkOpener | undefined} openLink
 * @param {((kind: EndKind, reason?: unknown) => void) | undefined} onEnd
 * @param {{resumeAfter?: number, params?: Record<string, unknown>}} extras for `ctx`
 * @returns {EventSource}
 */
function superviseSource(service, input, openLink, onEnd, extras) {
  const abort = new AbortController();
  /** @type {Map<string, OpenedLink>} */
  const links = new Map();
  // Status events wait here for the reader; only the latest status of each link is kept,
  // so this holds at most one event per link however fast statuses change.
  /** @type {Map<string, Event>} */
  const statuses = new Map();
  /** @type {{resolve: (step: ReadableStreamReadResult<Event>) => void, reject: (error: unknown) => void} | undefined} */
  let waiting;
  /** @returns {ReadableStreamReadResult<Event>} the oldest waiting status event */
  const takeStatus = () => {
    const [[local, event]] = statuses.entries();
    statuses.delete(local);
    return { done: false, value: event };
  };
  /** @type {ServiceContext} */
  const ctx = {
    name: service.name,
    signal: abort.signal,
    resumeAfter: extras.resumeAfter,
    params: extras.params ? Object.freeze({ ...extras.params }) : undefined,
    link(local, extra = {}) {
      const def = service.links[local];
      if (def === undefined || !openLink) throw new Error(`${service.name} has no link named ${local}`);
      if (abort.signal.aborted) throw new Error(`${service.name} has ended`);
      let link = links.get(local);
      if (!link) {
        link = openLink(local, def, extra, (status, detail = {}) => {
          statuses.delete(local);
          statuses.set(local, { type: 'link.status', data: { ...detail, link: local, status } });
          // A reader waiting on the service's output gets the status now; the output's
          // read goes on and its event is kept for the next read.
          if (waiting) {
            const w = waiting;
            waiting = undefined;
            w.resolve(takeStatus());
          }
        });
        links.set(local, link);
      }
      return link;
    },
  };
  /**
   * @param {EndKind} kind
   * @param {unknown} [reason]
   */
  const ended = (kind, reason) => {
    if (abort.signal.aborted) return;
    abort.abort(reason);
    onEnd?.(kind, reason);
    for (const link of links.values()) void link.close(reason);
    if (!input.locked) input.cancel(reason).catch(() => {});
  };

  let out;
  try {
    const result = service.fn(input, ctx);
    if (result instanceof ReadableStream) out = result;
    else if (result && result.readable instanceof ReadableStream && result.writable instanceof WritableStream) {
      // The pipe's failure reaches the output through the pair itself.
      input.pipeTo(result.writable).catch(() => {});
      out = result.readable;
    } else throw new TypeError(`${service.name} must return a ReadableStream or a TransformStream`);
  } catch (error) {
    ended('failed', error);
    return { read: () => Promise.reject(error), cancel: async () => {} };
  }

  const reader = out.getReader();
  // One read of the output at a time. Its result goes to the waiting reader, or is kept
  // here when a status event answered that reader first: no buffer beyond that one step.
  let reading = false;
  /** @type {{step: ReadableStreamReadResult<Event>} | {error: unknown} | undefined} */
  let kept;
  /** @param {{step: ReadableStreamReadResult<Event>} | {error: unknown}} result */
  const deliver = (result) => {
    reading = false;
    const w = waiting;
    if (!w) {
      kept = result;
      return;
    }
    waiting = undefined;
    if ('step' in result) w.resolve(result.step);
    else w.reject(result.error);
  };
  return {
    read() {
      if (statuses.size > 0) return Promise.resolve(takeStatus());
      if (kept) {
        const result = kept;
        kept = undefined;
        return 'step' in result ? Promise.resolve(result.step) : Promise.reject(result.error);
      }
      if (!reading) {
        reading = true;
        reader.read().then(
          (step) => {
            if (step.done) ended('completed');
            deliver({ step });
          },
          (error) => {
            ended('failed', error);
            deliver({ error });
          },
        );
      }
      return new Promise((resolve, reject) => (waiting = { resolve, reject }));
    },
    async cancel(reason) {
      ended('cancelled', reason);
      await reader.cancel(reason);
    },
  };
}
