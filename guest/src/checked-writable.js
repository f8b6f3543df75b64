// The writable side of a link or a session: internal, shared by GatewayLink and ViewSession.
//
// A WritableStream errors for good when its sink throws, so one event with a bad `type`
// used to end every later write too, silently for whoever did not await that one write,
// while the link or session still said "open". Here a bad event costs only itself:
// - through a writer (`getWriter().write(e)`) the write is rejected with a TypeError that
//   says what is wrong and what is allowed, and the stream stays usable;
// - through a pipe (`pipeTo`), which has no per-event promise to reject, the event is
//   skipped and `onRefused` reports it (a non-fatal `link.error` on the readable).

import { eventProblem } from './event.js';

/** @typedef {import('./event.js').Event} Event */
/** @typedef {NonNullable<ReturnType<typeof eventProblem>>} Problem */

/**
 * The error a refused write rejects with.
 *
 * @param {Problem} problem
 * @returns {TypeError & {reason: string, event?: string}}
 */
export function refusedWrite(problem) {
  const error = /** @type {TypeError & {reason: string, event?: string}} */ (
    new TypeError(`event not sent: ${problem.message}`)
  );
  error.reason = problem.reason;
  if (problem.id !== undefined) error.event = problem.id;
  return error;
}

/**
 * A WritableStream of events whose writers refuse a bad event without erroring the stream.
 *
 * @extends {WritableStream<Event>}
 */
export class CheckedWritable extends WritableStream {
  /**
   * @param {{start?: (controller: WritableStreamDefaultController) => void,
   *   write: (event: Event) => Promise<void> | void, close?: () => Promise<void> | void,
   *   abort?: (reason?: unknown) => Promise<void> | void}} sink
   * @param {(problem: Problem, event: unknown) => void} onRefused a bad event that came through a pipe
   * @param {QueuingStrategy<Event>} [strategy]
   */
  constructor(sink, onRefused, strategy) {
    super(
      {
        ...sink,
        write: (event) => {
          const problem = eventProblem(event);
          if (problem) return onRefused(problem, event);
          return sink.write(event);
        },
      },
      strategy,
    );
  }

  /** @override */
  getWriter() {
    const writer = super.getWriter();
    const write = writer.write.bind(writer);
    // Checked before the stream sees it: a rejected promise for this write alone.
    writer.write = (event) => {
      const problem = eventProblem(event);
      return problem ? Promise.reject(refusedWrite(problem)) : write(/** @type {Event} */ (event));
    };
    return writer;
  }
}

/**
 * A writer that lets a bad event through to the sink, which skips and reports it: for the
 * runtime's own loops (startViewService), where the report on the readable is what the app
 * sees, rather than a rejection in a loop the app does not own.
 *
 * @param {WritableStream<Event>} stream
 * @returns {WritableStreamDefaultWriter<Event>}
 */
export function reportingWriter(stream) {
  return WritableStream.prototype.getWriter.call(stream);
}
