// The bench's worker, as the service worker (`?path=sw`) and as the dedicated one
// (`&worker=dedicated`): the demo's guest services (demo/guest-services.js), which the
// measured rows use as an app would, plus `echo-hops`, the echo with the worker's clock put on
// each event as it comes in from the window and as it goes back, to split a round trip into
// its three hops (bench.js, `hops`).

import { defineGuestService, serveGuestServices } from '../../src/index.js';
import { defineDemoServices, echoAck } from '../../demo/guest-services.js';

const config = new URL(self.location.href).searchParams;
defineDemoServices(config);

/** @param {'inAt' | 'outAt'} field */
const stamp = (field) =>
  new TransformStream({
    transform(event, controller) {
      const data = /** @type {Record<string, unknown> | undefined} */ (event.data);
      // The same time line as the window's: both are cross-origin isolated (5 us steps).
      if (data && typeof data === 'object') data[field] = performance.timeOrigin + performance.now();
      controller.enqueue(event);
    },
  });

defineGuestService(
  'echo-hops',
  (input, ctx) => {
    const link = ctx.link('echo');
    input.pipeThrough(stamp('inAt')).pipeTo(link.writable).catch(() => {});
    return link.readable.pipeThrough(stamp('outAt'));
  },
  {
    links: {
      echo: {
        service: 'echo',
        options: { uploadMode: /** @type {'stream'} */ ('stream'), ackMatcher: echoAck },
      },
    },
  },
);

serveGuestServices({ gateway: self.location.origin });
