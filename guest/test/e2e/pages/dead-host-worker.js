// The dedicated worker of dead-host.html: guest services whose one link goes to a host
// service that the e2e's gateway routes to nobody ("dead"), or that guests may not reach
// ("hidden"). Each relays the view's events to its link and the link's events back.

import { defineGuestService, serveGuestServices } from '../../../src/index.js';

for (const [name, service] of [
  ['to-dead', 'dead'],
  ['to-hidden', 'hidden'],
]) {
  defineGuestService(
    name,
    (input, ctx) => {
      const link = ctx.link('host');
      input.pipeTo(link.writable).catch(() => {});
      return link.readable;
    },
    { links: { host: { service } } },
  );
}
serveGuestServices({ gateway: self.location.origin });
