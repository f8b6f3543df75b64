// The board's service worker (scope /board/): gateway-guest-run plus the board's guest
// services. Every tab of this browser on /board/ talks to this one worker, so tabs on one
// board share its state and its host links. Set up while the script is first evaluated (a
// stopped worker is started again by the next message and gets it only if the listeners
// exist by then); no fetch handler, so page loads never wake it.

import { serveGuestServices } from '../src/index.js';
import { defineBoardServices } from './guest-services.js';
import { IdbOutboxStore } from './outbox-idb.js';

const sw = /** @type {{location: Location, skipWaiting(): Promise<void>,
  addEventListener(type: 'install', listener: () => void): void}} */ (/** @type {unknown} */ (self));
const config = new URL(sw.location.href).searchParams;
const uploadMode = /** @type {'auto' | 'stream' | 'batch'} */ (config.get('upload') ?? 'auto');
const { guest } = defineBoardServices({ gateway: sw.location.origin, store: new IdbOutboxStore(), uploadMode });
serveGuestServices({ gateway: sw.location.origin, linkOptions: { guest, uploadMode } });

sw.addEventListener('install', () => void sw.skipWaiting());
