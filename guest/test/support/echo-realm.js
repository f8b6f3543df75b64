// A worker thread standing in for a browser worker: a realm of its own (its own
// REALM_INSTANCE), running serveGuestServices with an "echo" guest service that needs no
// gateway. workerData: {swallowFrom} (writes with data.n at or above it are never answered,
// as if lost when the worker was stopped), {replayFirst} (start each run by replaying the
// event at ctx.resumeAfter, as a sloppy resumed source would: the window must drop it).

import { parentPort, workerData } from 'node:worker_threads';
import { defineGuestService, serveGuestServices } from '../../src/index.js';

const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
const { swallowFrom = Infinity, replayFirst = false } = workerData ?? {};

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

serveGuestServices({ gateway: 'http://127.0.0.1:9', scope: /** @type {any} */ (port), services: [echo] });
