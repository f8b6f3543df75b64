// The board's dedicated worker (?worker=dedicated): the same guest services as board-sw.js,
// one worker per tab. Tabs then do not share state or links (each has its own worker), but
// they share the IndexedDB outbox's database: see README.md.

import { serveGuestServices } from '../src/index.js';
import { defineBoardServices } from './guest-services.js';
import { IdbOutboxStore } from './outbox-idb.js';

const config = new URL(self.location.href).searchParams;
const uploadMode = /** @type {'auto' | 'stream' | 'batch'} */ (config.get('upload') ?? 'auto');
const { guest } = defineBoardServices({ gateway: self.location.origin, store: new IdbOutboxStore(), uploadMode });
serveGuestServices({ gateway: self.location.origin, linkOptions: { guest, uploadMode } });
