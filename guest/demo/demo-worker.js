// The demo's dedicated worker: the same guest services as demo-sw.js, for the dedicated-worker
// mode (a browser without service workers, or an app that wants one worker per tab).

import { serveGuestServices } from '../src/index.js';
import { defineDemoServices } from './guest-services.js';

defineDemoServices(new URL(self.location.href).searchParams);
serveGuestServices({ gateway: self.location.origin });
