// The demo's service worker: gateway-guest-run plus the demo's guest services. Registered by
// the demo page as a module worker; its default scope (/demo/) covers the page.
//
// Everything is set up while the script is first evaluated: a worker that the browser
// stopped is started again by the next message, and gets that message only if its
// listeners exist by then. No fetch handler: page requests then never wake this worker,
// and the page needs no reload to talk to it (it posts to the registration's worker).

import { serveGuestServices } from '../src/index.js';
import { defineDemoServices } from './guest-services.js';

// The DOM lib the type check uses has no ServiceWorkerGlobalScope: name what is used here.
const sw = /** @type {{location: Location, skipWaiting(): Promise<void>,
  addEventListener(type: 'install', listener: () => void): void}} */ (/** @type {unknown} */ (self));
const config = new URL(sw.location.href).searchParams;
defineDemoServices(config);
serveGuestServices({ gateway: sw.location.origin });

// A new version takes over at once; windows notice the new instance and reconnect.
sw.addEventListener('install', () => void sw.skipWaiting());
