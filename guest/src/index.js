// The guest runtime's public API. Everything not exported here is internal.

export {
  defineGuestService,
  defineViewService,
  serveGuestServices,
  startViewService,
  connectServices,
  runService,
} from './runtime.js';
export { GatewayLink, GuestIdentity, defaultAckMatcher, supportsRequestStreams } from './gateway-link.js';
export {
  connectToWorker,
  openBridge,
  acceptConnections,
  keepWorkerAlive,
  pingWorker,
  answerPings,
  supportsTransferableStreams,
} from './bridge.js';
export { ViewSession } from './session.js';
export { GuestWorker } from './worker-watch.js';
export { decodeEvents, encodeEvents } from './ndjson.js';
export { MAX_EVENT_BYTES, linkError } from './event.js';
export { Backoff } from './backoff.js';

/** @typedef {import('./event.js').Event} Event */
/** @typedef {import('./event.js').LinkErrorData} LinkErrorData */
/** @typedef {import('./gateway-link.js').GatewayLinkOptions} GatewayLinkOptions */
/** @typedef {import('./gateway-link.js').LinkStatus} LinkStatus */
/** @typedef {import('./runtime.js').ServiceFunction} ServiceFunction */
/** @typedef {import('./runtime.js').ServiceContext} ServiceContext */
/** @typedef {import('./runtime.js').ServiceDefinition} ServiceDefinition */
/** @typedef {import('./runtime.js').LinkDefinition} LinkDefinition */
/** @typedef {import('./session.js').SessionStatus} SessionStatus */
/** @typedef {import('./session.js').SessionOptions} SessionOptions */
