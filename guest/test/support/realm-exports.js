// What the session tests import: the public API, plus this realm's instance id.
export { GuestWorker, ViewSession, openBridge, pingWorker } from '../../src/index.js';
export { REALM_INSTANCE as REALM_INSTANCE_FOR_TESTS } from '../../src/bridge.js';
