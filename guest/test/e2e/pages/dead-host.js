// An e2e page: a view on a guest service (dead-host-worker.js, ?service=to-dead|to-hidden)
// whose link cannot work. It writes nothing and notes every link.error and status it is
// given; Playwright reads them through `window.probe.state()`.

import { GuestWorker, defineViewService, startViewService } from '../../../src/index.js';

const query = new URLSearchParams(location.search);
const t0 = performance.now();
const now = () => Math.round(performance.now() - t0);

const state = {
  /** @type {Record<string, unknown>[]} each link.error's data, with when it came */
  errors: [],
  /** @type {{at: number, bridge: string, links: Record<string, string>}[]} */
  statuses: [],
  /** the view's input ended: the session is over */
  ended: false,
};

const view = defineViewService('watcher', (input) => {
  (async () => {
    for await (const event of input) {
      if (event.type === 'link.error') state.errors.push({ at: now(), .../** @type {object} */ (event.data) });
    }
    state.ended = true;
  })().catch((error) => state.errors.push({ at: now(), reason: 'view_failed', message: String(error) }));
  // Nothing to send: the output stays open until the session ends.
  return new ReadableStream({ pull: () => new Promise(() => {}) });
});

const ready = startViewService(view, {
  worker: GuestWorker.dedicated(new URL('dead-host-worker.js', import.meta.url)),
  service: query.get('service') ?? 'to-dead',
  onStatus: (status) => state.statuses.push({ at: now(), bridge: status.bridge, links: status.links }),
}).then(() => true);

/** @type {any} */ (window).probe = { ready, state: () => JSON.parse(JSON.stringify(state)) };
