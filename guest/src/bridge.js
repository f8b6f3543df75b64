// The window <-> worker bridge (DESIGN.md "Guest to guest"): the window posts a message
// carrying its ReadableStream, the worker answers with another. Where ReadableStream is not
// transferable (Safari), each stream is pumped over its own MessagePort instead, with
// credit-based flow control so that backpressure still crosses the bridge: postMessage has
// no backpressure of its own, so without credits a fast producer would fill the other
// realm's message queue without bound.

/**
 * What the window posts to: a Worker, a ServiceWorker, or a MessagePort.
 *
 * @typedef {object} PostTarget
 * @property {(message: unknown, transfer: Transferable[]) => void} postMessage
 */

/**
 * Where the worker listens: the worker's global scope (`self`), or a MessagePort.
 *
 * @typedef {object} ListenTarget
 * @property {(type: 'message', listener: (event: MessageEvent) => void) => void} addEventListener
 * @property {(type: 'message', listener: (event: MessageEvent) => void) => void} removeEventListener
 * @property {() => void} [start]
 */

/**
 * @typedef {'auto' | 'transfer' | 'port'} BridgeMode
 * `transfer` posts the streams themselves; `port` pumps them over MessagePorts; `auto`
 * transfers where the browser can (see {@link supportsTransferableStreams}).
 */

/**
 * @typedef {object} ConnectOptions
 * @property {string} [name] what the window wants to talk to; handed to the worker's handler
 * @property {BridgeMode} [mode] default `auto`
 * @property {number} [highWaterMark] chunks the pumped answer stream may hold (port mode), default 16
 * @property {number} [timeoutMs] how long to wait for the worker's answer, default 10 s
 * @property {unknown} [hello] structured-clonable data for the worker's handler (`info.hello`),
 *   e.g. where a restarted conversation resumes
 */

/**
 * @typedef {object} Bridge what {@link openBridge} resolves with
 * @property {ReadableStream<any>} readable events from the worker to the window
 * @property {string} instance the id of the worker realm that answered: a different one
 *   later means the worker was stopped and started again, and this bridge is dead
 */

/**
 * @typedef {object} ConnectionInfo
 * @property {string | undefined} name the `name` the window gave
 * @property {'transfer' | 'port'} mode how the streams cross
 * @property {unknown} [hello] what the window passed as `hello`
 */

/**
 * @callback ConnectionHandler
 * @param {ReadableStream<any>} readable what the window sends
 * @param {ConnectionInfo} info
 * @returns {ReadableStream<any> | Promise<ReadableStream<any>>} what the window receives
 */

const TAG = 'eventpaths';
/** @type {boolean | undefined} */
let transferable;

/**
 * This realm's id, made once when the module is first evaluated. A service worker that the
 * browser stops and starts again evaluates its modules again and so gets a new one: that is
 * how a window tells a restarted worker (whose streams are all gone) from a live one.
 */
export const REALM_INSTANCE = randomId();

/**
 * Whether this realm can transfer a ReadableStream through postMessage (Chrome 87+,
 * Firefox 103+, Node 18+; not Safari). Checked once, by trying.
 *
 * @returns {boolean}
 */
export function supportsTransferableStreams() {
  if (transferable === undefined) {
    const { port1, port2 } = new MessageChannel();
    try {
      const stream = new ReadableStream();
      port1.postMessage(stream, [/** @type {any} */ (stream)]);
      transferable = true;
    } catch {
      transferable = false;
    } finally {
      port1.close();
      port2.close();
    }
  }
  return transferable;
}

/**
 * Window side: hands `readable` to the worker and resolves with the worker's answer. The
 * same as {@link openBridge}, for callers that do not watch the worker's instance.
 *
 * @param {PostTarget} worker
 * @param {ReadableStream<any>} readable events from the window to the worker
 * @param {ConnectOptions} [options]
 * @returns {Promise<ReadableStream<any>>} events from the worker to the window
 */
export async function connectToWorker(worker, readable, options = {}) {
  return (await openBridge(worker, readable, options)).readable;
}

/**
 * Window side: hands `readable` to the worker and resolves with the worker's answer and
 * the id of the worker realm that gave it.
 *
 * Stream contract, both modes: each stream's completion, failure and cancellation reach the
 * other realm (failure reasons cross as structured clones, or as strings when they cannot
 * be cloned). Cancelling the answer cancels the worker's stream; the worker cancelling what
 * it reads cancels `readable`. Backpressure holds across the bridge: a slow reader on one
 * side slows the pulls on the other, and no queue between them grows without bound.
 *
 * Fails when the worker does not answer within `timeoutMs`, or its handler fails.
 *
 * The window gets no signal if the worker is stopped (a browser stops an idle service
 * worker ~30 s after its last event, streams or not): reads then never settle. Watch the
 * worker with {@link pingWorker} (or a `WorkerWatch`) and compare its instance.
 *
 * @param {PostTarget} worker
 * @param {ReadableStream<any>} readable
 * @param {ConnectOptions} [options]
 * @returns {Promise<Bridge>}
 */
export function openBridge(worker, readable, options = {}) {
  const { name, mode = 'auto', highWaterMark = 16, timeoutMs = 10_000, hello } = options;
  const useTransfer = mode === 'transfer' || (mode === 'auto' && supportsTransferableStreams());
  const reply = new MessageChannel();
  return new Promise((resolve, reject) => {
    /** @type {ReadableStream<any> | undefined} */
    let pumped;
    const timer = setTimeout(() => {
      settle();
      pumped?.cancel('no answer').catch(() => {});
      reject(Object.assign(new Error(`no answer from the worker within ${timeoutMs} ms`), { code: 'worker_timeout' }));
    }, timeoutMs);
    /** @param {MessageEvent} event */
    const onReply = (event) => {
      settle();
      const message = event.data ?? {};
      const instance = String(message.instance);
      if (message.error !== undefined) {
        pumped?.cancel(message.error).catch(() => {});
        reject(message.error);
      }
      else if (!useTransfer && pumped) resolve({ readable: pumped, instance });
      else if (message.stream instanceof ReadableStream) resolve({ readable: message.stream, instance });
      else reject(new Error('the worker answered without a stream'));
    };
    function settle() {
      clearTimeout(timer);
      reply.port1.removeEventListener('message', onReply);
      reply.port1.close();
    }
    reply.port1.addEventListener('message', onReply);
    reply.port1.start();
    try {
      if (useTransfer) {
        worker.postMessage(
          { [TAG]: 'connect', mode: 'transfer', name, hello, stream: readable, reply: reply.port2 },
          [/** @type {any} */ (readable), reply.port2],
        );
      } else {
        const up = new MessageChannel();
        const down = new MessageChannel();
        worker.postMessage(
          { [TAG]: 'connect', mode: 'port', name, hello, up: up.port2, down: down.port2, reply: reply.port2 },
          [up.port2, down.port2, reply.port2],
        );
        void sendStream(readable, up.port1);
        pumped = receiveStream(down.port1, { highWaterMark });
      }
    } catch (error) {
      settle();
      reject(error);
    }
  });
}

/**
 * Worker side: answers every connection the window opens with `handler`'s stream. Messages
 * that are not eventpaths connections (including keep-alive pings) are left alone.
 *
 * A handler that throws, or answers with something that is not a ReadableStream, fails
 * the window's connection and cancels what the window sent.
 *
 * @param {ListenTarget} scope the worker's `self`, or a MessagePort
 * @param {ConnectionHandler} handler
 * @param {{highWaterMark?: number}} [options] chunks the pumped incoming stream may hold (port mode)
 * @returns {() => void} stops accepting new connections (open ones go on)
 */
export function acceptConnections(scope, handler, { highWaterMark = 16 } = {}) {
  /** @param {MessageEvent} event */
  const onMessage = (event) => {
    const message = event.data;
    if (!message || message[TAG] !== 'connect') return;
    /** @type {MessagePort} */
    const reply = message.reply;
    const instance = REALM_INSTANCE;
    const port = message.mode === 'port';
    if (!port && message.mode !== 'transfer') return;
    /** @type {ReadableStream<any>} */
    const incoming = port ? receiveStream(message.up, { highWaterMark }) : message.stream;
    // The reply is the handshake: it names this realm, and it comes only once the handler
    // has answered, so a refused connection fails at connect time in both modes.
    Promise.resolve()
      .then(() => handler(incoming, { name: message.name, mode: port ? 'port' : 'transfer', hello: message.hello }))
      .then((out) => {
        if (!(out instanceof ReadableStream)) throw new TypeError('the handler must return a ReadableStream');
        if (port) {
          reply.postMessage({ instance });
          void sendStream(out, message.down);
        } else {
          reply.postMessage({ stream: out, instance }, [/** @type {any} */ (out)]);
        }
      })
      .catch((error) => {
        incoming.cancel(error).catch(() => {});
        reply.postMessage({ error: cloneable(error), instance });
        if (port) message.down.postMessage({ error: cloneable(error) });
      })
      .finally(() => reply.close());
  };

  scope.addEventListener('message', onMessage);
  scope.start?.();
  return () => scope.removeEventListener('message', onMessage);
}

/**
 * Keeps a service worker running: a browser stops a service worker about 30 s after its
 * last event, and traffic on streams it holds does not count, but a message does. Posts a
 * ping every `intervalMs` (default 20 s) until the returned function is called. A
 * `WorkerWatch` does this and also notices a worker that was stopped anyway.
 *
 * @param {PostTarget} worker
 * @param {number} [intervalMs]
 * @returns {() => void} stops the pings
 */
export function keepWorkerAlive(worker, intervalMs = 20_000) {
  const timer = setInterval(() => worker.postMessage({ [TAG]: 'ping' }, []), intervalMs);
  return () => clearInterval(timer);
}

/**
 * Window side: asks the worker for its realm instance. The message itself is an event for
 * a service worker: it keeps a running one alive, and starts a stopped one again (whose
 * answer then carries a new instance).
 *
 * @param {PostTarget} worker
 * @param {number} [timeoutMs] default 5 s
 * @returns {Promise<string>} the instance; fails when no answer comes in time
 */
export function pingWorker(worker, timeoutMs = 5_000) {
  const { port1, port2 } = new MessageChannel();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      port1.close();
      reject(Object.assign(new Error(`no answer to a ping within ${timeoutMs} ms`), { code: 'worker_timeout' }));
    }, timeoutMs);
    port1.onmessage = (event) => {
      clearTimeout(timer);
      port1.close();
      resolve(String(event.data?.instance));
    };
    try {
      worker.postMessage({ [TAG]: 'ping', reply: port2 }, [port2]);
    } catch (error) {
      clearTimeout(timer);
      port1.close();
      reject(error);
    }
  });
}

/**
 * Worker side: answers pings ({@link pingWorker}) with this realm's instance. Pings without
 * a reply port ({@link keepWorkerAlive}) need no answer: receiving them is their purpose.
 *
 * @param {ListenTarget} scope
 * @returns {() => void} stops answering
 */
export function answerPings(scope) {
  /** @param {MessageEvent} event */
  const onMessage = (event) => {
    const message = event.data;
    if (!message || message[TAG] !== 'ping' || !message.reply) return;
    /** @type {MessagePort} */
    const reply = message.reply;
    reply.postMessage({ instance: REALM_INSTANCE });
    reply.close();
  };
  scope.addEventListener('message', onMessage);
  scope.start?.();
  return () => scope.removeEventListener('message', onMessage);
}

/**
 * Pumps `readable` into `port`: the sending half of the port-mode bridge. Sends a chunk
 * only against credit granted by the receiving side ({@link receiveStream}), so it pulls
 * from `readable` no faster than the far reader reads. Resolves when the stream has ended,
 * failed or been cancelled from the far side (its cancel reason is passed to `readable`).
 *
 * Messages: `{chunk}`, `{end: true}`, `{error}` out; `{credit: n}`, `{cancel: reason}` in.
 *
 * @param {ReadableStream<any>} readable
 * @param {MessagePort} port
 * @returns {Promise<void>}
 */
export function sendStream(readable, port) {
  const reader = readable.getReader();
  let credit = 0;
  let stopped = false;
  /** @type {(() => void) | null} */
  let wake = null;
  return new Promise((resolve) => {
    function stop() {
      if (stopped) return;
      stopped = true;
      port.removeEventListener('message', onMessage);
      wake?.();
      resolve();
    }
    /** @param {MessageEvent} event */
    function onMessage(event) {
      const message = event.data;
      if (message && typeof message.credit === 'number' && message.credit > 0) {
        credit += message.credit;
        wake?.();
      } else if (message && 'cancel' in message) {
        stop();
        port.close();
        reader.cancel(message.cancel).catch(() => {});
      }
    }
    port.addEventListener('message', onMessage);
    port.start();
    (async () => {
      while (!stopped) {
        if (credit === 0) {
          await new Promise((r) => {
            wake = () => r(undefined);
          });
          wake = null;
          continue;
        }
        const { done, value } = await reader.read();
        if (stopped) return;
        if (done) {
          // The receiver closes the port once it has read this: closing here could drop
          // the messages still queued for it.
          port.postMessage({ end: true });
          stop();
          return;
        }
        credit--;
        port.postMessage({ chunk: value });
      }
    })().catch((error) => {
      if (stopped) return;
      try {
        port.postMessage({ error: cloneable(error) });
      } catch {
        port.close();
      }
      stop();
      reader.cancel(error).catch(() => {});
    });
  });
}

/**
 * The receiving half of the port-mode bridge: a ReadableStream fed from `port`. It grants
 * the sender credit for the room in its queue, so what it holds plus what is in flight
 * never exceeds `highWaterMark` chunks. Cancelling it cancels the sender's stream.
 *
 * @param {MessagePort} port
 * @param {{highWaterMark?: number}} [options] default 16, at least 1
 * @returns {ReadableStream<any>}
 */
export function receiveStream(port, { highWaterMark = 16 } = {}) {
  const window = Math.max(1, highWaterMark);
  // Credit goes out in batches of at least half the window: one credit message per half
  // window of chunks, not one per chunk.
  const batch = Math.max(1, Math.ceil(window / 2));
  let outstanding = 0;
  let finished = false;
  /** @type {ReadableStreamDefaultController<any>} */
  let controller;

  function finish() {
    finished = true;
    port.removeEventListener('message', onMessage);
    port.close();
  }
  /** @param {MessageEvent} event */
  function onMessage(event) {
    const message = event.data;
    if (finished || !message) return;
    if ('chunk' in message) {
      outstanding--;
      controller.enqueue(message.chunk);
    } else if (message.end === true) {
      finish();
      controller.close();
    } else if ('error' in message) {
      finish();
      controller.error(message.error);
    }
  }

  return new ReadableStream(
    {
      start(c) {
        controller = c;
        port.addEventListener('message', onMessage);
        port.start();
      },
      pull(c) {
        if (finished) return;
        const room = (c.desiredSize ?? 0) - outstanding;
        if (room >= batch || (outstanding === 0 && room > 0)) {
          outstanding += room;
          port.postMessage({ credit: room });
        }
      },
      cancel(reason) {
        if (finished) return;
        try {
          port.postMessage({ cancel: cloneable(reason) });
        } finally {
          finish();
        }
      },
    },
    { highWaterMark: window },
  );
}

/**
 * A failure reason that survives postMessage: itself when structured-clonable (Errors are),
 * else its string form.
 *
 * @param {unknown} reason
 * @returns {unknown}
 */
function cloneable(reason) {
  try {
    return structuredClone(reason);
  } catch {
    return String(reason);
  }
}

/** @returns {string} 128 random bits, hex */
function randomId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
