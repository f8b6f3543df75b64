// Small helpers for driving web streams in tests.

/**
 * Reads a stream to its end.
 * @template T
 * @param {ReadableStream<T>} readable
 * @returns {Promise<T[]>}
 */
export async function collect(readable) {
  const out = [];
  for await (const chunk of readable) out.push(chunk);
  return out;
}

/** A stream of the given chunks, then the end. */
export function streamOf(...chunks) {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

/** Resolves after `ms`. */
export const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `predicate()` is true, polling; fails after `timeoutMs`. */
export async function until(predicate, timeoutMs = 5000, what = 'condition') {
  const start = Date.now();
  while (!(await predicate())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await delay(5);
  }
}

/**
 * An endless, pull-based source of numbered events that counts its pulls and records its
 * cancel reason: what backpressure and cancellation tests look at.
 */
export function countingSource({ highWaterMark = 0 } = {}) {
  const state = { pulls: 0, cancelled: undefined, stream: undefined };
  state.stream = new ReadableStream(
    {
      pull(controller) {
        state.pulls++;
        controller.enqueue({ type: 'n', data: state.pulls });
      },
      cancel(reason) {
        state.cancelled = reason ?? 'cancelled';
      },
    },
    { highWaterMark },
  );
  return state;
}

export const utf8 = new TextEncoder();
