// The demo's guest services, shared by both worker entries (demo-sw.js, demo-worker.js).
// Each is the smallest useful shape: the window's events go to one host service through the
// gateway, and the host's events come back as the service's output.

import { defineGuestService } from '../src/index.js';

/**
 * The echo host service answers each event with itself, so the echoed event is the
 * acknowledgement of the write with the same id: the gateway link and the window's session
 * both stop holding a write once its echo is back.
 *
 * @param {import('../src/index.js').Event} event
 */
export const echoAck = (event) => (event.type.startsWith('link.') ? undefined : event.id);

/**
 * @param {URLSearchParams} config the worker script's query: `upload=auto|stream|batch`
 */
export function defineDemoServices(config) {
  const uploadMode = /** @type {'auto' | 'stream' | 'batch'} */ (config.get('upload') ?? 'auto');
  const options = { uploadMode, ackMatcher: echoAck };

  // View events -> echo -> view. `resume: true`: the echoed events carry the view's own seq,
  // so a restarted worker drops what the window already saw.
  defineGuestService(
    'echo',
    (input, ctx) => {
      const link = ctx.link('echo');
      // A failed pipe needs no handling here: the link reports what broke as link.error
      // events on link.readable, which is this service's output, so the view sees them.
      input.pipeTo(link.writable).catch(() => {});
      return link.readable;
    },
    { links: { echo: { service: 'echo', resume: true, options } } },
  );

  // View -> view through the worker: each event back as it came, with no host service. The
  // browser bench's measure of the window <-> worker bridge alone.
  defineGuestService('worker-echo', (input) => input);

  // Host -> view only: the source host service emits ?n= events of ?size= bytes.
  defineGuestService(
    'source',
    (input, ctx) => {
      input.cancel().catch(() => {});
      const hello = /** @type {{n?: unknown, size?: unknown}} */ (ctx.params ?? {});
      const link = ctx.link('source', { params: { n: String(hello.n ?? 1000), size: String(hello.size ?? 100) } });
      link.writable.close().catch(() => {});
      return link.readable;
    },
    { links: { source: { service: 'source', resume: true, options } } },
  );

  // View -> host only: the sink host service counts what it got and answers once, when the
  // view ends its output.
  defineGuestService(
    'sink',
    (input, ctx) => {
      const link = ctx.link('sink');
      input.pipeTo(link.writable).catch(() => {});
      return link.readable;
    },
    { links: { sink: { service: 'sink', options } } },
  );
}
