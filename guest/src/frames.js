// How events cross the window <-> worker bridge: in arrays. Every chunk on a transferred
// stream (or every message of the port pump) costs a structured clone and a task in the
// other realm, per chunk; in Chromium that, not the events, bounded the service-worker path
// (bench/: ~4x below the same runtime in the window). So each side sends whatever events
// are ready as one array: a busy bridge carries batches, an idle one still sends each event
// at once.
//
// Negotiated, because a page and its service worker can run different versions for a while
// (the old worker serves until the new one activates): a window asks with
// `hello.frames: 'batch'`; a worker that knows frames answers in arrays; the window sends
// arrays only after it has received one. Events are objects, never arrays, so a receiver
// can accept both.

/** @typedef {import('./event.js').Event} Event */

/**
 * Arrays (and single events) in, single events out. What it holds is at most one array.
 *
 * @returns {TransformStream<Event | Event[], Event>}
 */
export function unframe() {
  return new TransformStream(
    {
      transform(chunk, controller) {
        if (Array.isArray(chunk)) for (const event of chunk) controller.enqueue(event);
        else controller.enqueue(chunk);
      },
    },
    { highWaterMark: 1 },
    { highWaterMark: 0 },
  );
}

/**
 * Events in, arrays of events out: reads ahead of its reader up to `max` events (the bound
 * on what it holds), and each read takes all of them. Completion, failure and cancellation
 * pass through; a failure is delivered after the events read before it.
 *
 * `max` is also the most one array carries, and a transferred stream carries one array at a
 * time (the next waits for the other side to ask): 32 held the service-worker path's
 * host -> view rate to ~60k events/s in Chromium, 256 lets it reach ~100k.
 *
 * @param {ReadableStream<Event> | import('./runtime.js').EventSource} source a stream, or a
 *   reader-like source (what the worker's supervision of a service's output is)
 * @param {number} [max] default 256
 * @returns {ReadableStream<Event[]>}
 */
export function frame(source, max = 256) {
  const reader = source instanceof ReadableStream ? source.getReader() : source;
  /** @type {Event[]} */
  let queue = [];
  let ended = false;
  /** @type {{error: unknown} | undefined} */
  let failed;
  let cancelled = false;
  /** @type {(() => void) | undefined} */
  let wakeReader;
  /** @type {(() => void) | undefined} */
  let wakePump;

  async function pump() {
    try {
      while (!cancelled) {
        if (queue.length >= max) {
          await new Promise((resolve) => (wakePump = () => resolve(undefined)));
          continue;
        }
        const step = await reader.read();
        if (step.done) break;
        queue.push(step.value);
        wakeReader?.();
      }
    } catch (error) {
      failed = { error };
    } finally {
      ended = true;
      wakeReader?.();
    }
  }

  return new ReadableStream(
    {
      start() {
        void pump();
      },
      async pull(controller) {
        while (queue.length === 0 && !ended) {
          await new Promise((resolve) => (wakeReader = () => resolve(undefined)));
        }
        wakeReader = undefined;
        if (queue.length > 0) {
          controller.enqueue(queue);
          queue = [];
          wakePump?.();
          return;
        }
        if (failed) controller.error(failed.error);
        else controller.close();
      },
      cancel(reason) {
        cancelled = true;
        queue = [];
        wakePump?.();
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}
