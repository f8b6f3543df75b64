// A worker thread standing in for a browser worker: a realm of its own (its own
// REALM_INSTANCE), running serveGuestServices with an "echo" guest service that needs no
// gateway. workerData: {swallowFrom} (writes with data.n at or above it are never answered,
// as if lost when the worker was stopped), {replayFirst} (start each run by replaying the
// event at ctx.resumeAfter, as a sloppy resumed source would: the window must drop it),
// {recordChunks} (no guest services: the worker side of the bridge itself answers each
// chunk it reads with echoes of its writes, marked with the chunk's number and size).

import { parentPort, workerData } from 'node:worker_threads';
import { acceptConnections, answerPings, defineGuestService, serveGuestServices } from '../../src/index.js';

const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
const { swallowFrom = Infinity, replayFirst = false, recordChunks = false } = workerData ?? {};

const echo = defineGuestService('echo', (input, ctx) => {
  const reader = input.getReader();
  let started = false;
  return new ReadableStream({
    async pull(controller) {
      if (!started) {
        started = true;
        controller.enqueue({ type: 'run.started', data: { resumeAfter: ctx.resumeAfter ?? null, params: ctx.params ?? null } });
        if (replayFirst && ctx.resumeAfter) {
          const n = ctx.resumeAfter;
          controller.enqueue({ type: 'echo', id: `w${n}`, seq: n, data: { n, replay: true } });
        }
        return;
      }
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return controller.close();
        if (value.data.n >= swallowFrom) continue;
        controller.enqueue({ type: 'echo', id: value.id, seq: value.seq, data: value.data });
        return;
      }
    },
  });
});

if (recordChunks) {
  answerPings(/** @type {any} */ (port));
  acceptConnections(/** @type {any} */ (port), (input) => {
    const reader = input.getReader();
    let chunk = 0;
    return new ReadableStream({
      async pull(controller) {
        if (chunk === 0) {
          // An array first: the window sends arrays only to a worker that answers in them.
          controller.enqueue([{ type: 'run.started', data: {} }]);
          chunk++;
          return;
        }
        const { done, value } = await reader.read();
        if (done) return controller.close();
        const events = Array.isArray(value) ? value : [value];
        const data = { chunk: chunk++, size: events.length };
        controller.enqueue(events.map((e) => ({ type: 'echo', id: e.id, seq: e.seq, data })));
      },
    });
  });
} else {
  serveGuestServices({ gateway: 'http://127.0.0.1:9', scope: /** @type {any} */ (port), services: [echo] });
}
