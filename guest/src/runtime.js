// The public face of the guest runtime: services are functions from a stream of events to
// a stream of events; this file wires them to each other, across the window/worker bridge
// and to host services through the gateway.

import { acceptConnections, connectToWorker } from './bridge.js';
import { GatewayLink, GuestIdentity } from './gateway-link.js';

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
 * @property {(name: string) => StreamPair} link the link to a host service the definition
 *   names under `name` (see `links`), opened on first use and closed when the service ends:
 *   write events for the host to `writable`, read the host's events from `readable`
 *   (see {@link GatewayLink} for its contract: resume, retried writes, `link.error` events)
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
 * @property {Readonly<Record<string, string>>} links local link name -> host service name
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
 * @param {{links?: Record<string, string>}} [options] the host services it links to, by the
 *   name the service uses in `ctx.link(name)`
 * @returns {ServiceDefinition}
 */
export function defineGuestService(name, fn, { links = {} } = {}) {
  const definition = Object.freeze({ name, kind: /** @type {const} */ ('guest'), fn, links: Object.freeze({ ...links }) });
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
 * fresh run of that guest service, whose links to host services share one guest id. A
 * connection to an unknown name fails.
 *
 * @param {ServeOptions} options
 * @returns {() => void} stops answering new connections (running services go on)
 */
export function serveGuestServices({ gateway, scope, services, linkOptions = {} }) {
  const byName = new Map([...(services ?? guestServices.values())].map((s) => [s.name, s]));
  const guest = linkOptions.guest ?? new GuestIdentity({ baseUrl: gateway, fetch: linkOptions.fetch });
  let runs = 0;
  const target = scope ?? /** @type {ListenTarget} */ (/** @type {unknown} */ (globalThis));
  return acceptConnections(target, (input, info) => {
    const service = info.name === undefined ? undefined : byName.get(info.name);
    if (!service) throw new Error(`no guest service named ${info.name}`);
    // Each run gets its own link names: two tabs on one worker must not share a pair.
    const run = ++runs;
    return runService(service, input, (local, host) => {
      const link = `${service.name}-${local}-${run}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(-64);
      return new GatewayLink({ ...linkOptions, guest, baseUrl: gateway, service: host, link });
    });
  });
}

/**
 * In the window: starts a view service connected to the guest service `service` in the
 * worker: the guest service's output is the view's input and the other way round.
 *
 * @param {ServiceDefinition} view
 * @param {{worker: PostTarget, service: string, mode?: import('./bridge.js').BridgeMode}} options
 * @returns {Promise<{done: Promise<void>}>} `done` settles when the view's output has ended
 */
export async function startViewService(view, { worker, service, mode }) {
  const relay = new TransformStream(undefined, { highWaterMark: 1 }, { highWaterMark: 0 });
  const input = await connectToWorker(worker, relay.readable, { name: service, mode });
  const output = runService(view, input);
  return { done: output.pipeTo(relay.writable) };
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
 * Runs one service on `input` and returns its output, supervised: when the output ends for
 * any reason, `ctx.signal` aborts and the service's links close.
 *
 * @param {ServiceDefinition} service
 * @param {ReadableStream<Event>} input
 * @param {(local: string, host: string) => StreamPair & {close(reason?: unknown): Promise<void>}} [openLink]
 * @returns {ReadableStream<Event>}
 */
export function runService(service, input, openLink) {
  return supervise(service, input, openLink);
}

/** @typedef {'completed' | 'cancelled' | 'failed'} EndKind */

/**
 * {@link runService}, telling `onEnd` how the output ended.
 *
 * @param {ServiceDefinition} service
 * @param {ReadableStream<Event>} input
 * @param {((local: string, host: string) => StreamPair & {close(reason?: unknown): Promise<void>}) | undefined} openLink
 * @param {(kind: EndKind, reason?: unknown) => void} [onEnd]
 * @returns {ReadableStream<Event>}
 */
function supervise(service, input, openLink, onEnd) {
  const abort = new AbortController();
  /** @type {Map<string, StreamPair & {close(reason?: unknown): Promise<void>}>} */
  const links = new Map();
  /** @type {ServiceContext} */
  const ctx = {
    name: service.name,
    signal: abort.signal,
    link(local) {
      const host = service.links[local];
      if (host === undefined || !openLink) throw new Error(`${service.name} has no link named ${local}`);
      if (abort.signal.aborted) throw new Error(`${service.name} has ended`);
      let link = links.get(local);
      if (!link) {
        link = openLink(local, host);
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
    return new ReadableStream({
      start(controller) {
        controller.error(error);
      },
    });
  }

  const reader = out.getReader();
  // No buffer of its own: each read here is one read of the service's output.
  return new ReadableStream(
    {
      async pull(controller) {
        let step;
        try {
          step = await reader.read();
        } catch (error) {
          ended('failed', error);
          throw error;
        }
        if (step.done) {
          controller.close();
          ended('completed');
        } else controller.enqueue(step.value);
      },
      async cancel(reason) {
        ended('cancelled', reason);
        await reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
