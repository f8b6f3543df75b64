// The event envelope of docs/PROTOCOL.md section 1, and the link.error events this
// runtime makes. Kept apart from the framing so the gateway link and the services share
// one definition of what a valid event is.

/**
 * One event: the unit every eventpaths stream carries.
 *
 * @typedef {object} Event
 * @property {string} type dotted name, 1-128 chars of `A-Z a-z 0-9 _ - .`; `link.*` is reserved
 * @property {string} [id] unique id (at most 128 chars); guests set it on writes so a retry is applied once
 * @property {number} [seq] position in its stream (a positive integer), used to resume
 * @property {unknown} [data] any JSON value
 */

/**
 * The payload of a `link.error` event (PROTOCOL.md section 3).
 *
 * @typedef {object} LinkErrorData
 * @property {string} reason machine-readable code, e.g. `malformed_event`
 * @property {string} message for humans
 * @property {boolean} fatal whether the stream it was found on ends because of it
 * @property {string} [event] id of the refused event, when it could be read
 * @property {boolean} [reconnect] set by the gateway link: it will reopen the link itself
 * @property {number} [retryInMs] with `reconnect`: how long the runtime waits before it tries again
 * @property {number} [retryAfter] from the server (`busy`): seconds to wait at least before reopening; the runtime does
 * @property {string} [detail] what a server said, when `message` is the runtime's own words
 *   for it: unchecked, for a developer's console, not for display
 */

/** Default limit on one encoded event, newline included (`eventpaths.link.max-event-bytes`). */
export const MAX_EVENT_BYTES = 64 * 1024;

const TYPE = /^[A-Za-z0-9_.-]{1,128}$/;
const MAX_ID_CHARS = 128;

/**
 * @param {unknown} value
 * @returns {value is string}
 */
export function isEventType(value) {
  return typeof value === 'string' && TYPE.test(value);
}

/**
 * What is wrong with an event an app wants to send, if anything: the same envelope rules
 * {@link toEvent} applies to what arrives, said so that the writer can fix the call.
 *
 * @param {unknown} event
 * @returns {{reason: 'missing_type' | 'malformed_event', message: string, id?: string} | undefined}
 */
export function eventProblem(event) {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) {
    return { reason: 'malformed_event', message: `an event must be an object like {type: "task.add"}, not ${describe(event)}` };
  }
  const e = /** @type {Record<string, unknown>} */ (event);
  const id = typeof e.id === 'string' && e.id.length <= MAX_ID_CHARS ? e.id : undefined;
  const named = id === undefined ? {} : { id };
  if (!isEventType(e.type)) {
    return {
      reason: 'missing_type',
      message: `"type" must be 1-128 characters of A-Z a-z 0-9 _ - . (got ${describe(e.type)})`,
      ...named,
    };
  }
  if (e.id !== undefined && id === undefined) {
    return { reason: 'malformed_event', message: `"id" must be a string of at most ${MAX_ID_CHARS} characters (got ${describe(e.id)})` };
  }
  if (e.seq !== undefined && !(Number.isSafeInteger(e.seq) && /** @type {number} */ (e.seq) > 0)) {
    return { reason: 'malformed_event', message: `"seq" must be a positive integer (got ${describe(e.seq)})`, ...named };
  }
  return undefined;
}

/** @param {unknown} value a short, safe picture of a bad value for an error message */
function describe(value) {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (value === null || Array.isArray(value)) return value === null ? 'null' : 'an array';
  return typeof value === 'object' || typeof value === 'function' ? `a ${typeof value}` : String(value);
}

/**
 * Makes a `link.error` event.
 *
 * @param {string} reason
 * @param {string} message
 * @param {Partial<LinkErrorData> & Record<string, unknown>} [extra]
 * @returns {Event & {type: 'link.error', data: LinkErrorData}}
 */
export function linkError(reason, message, extra = {}) {
  return { type: 'link.error', data: { fatal: false, ...extra, reason, message } };
}

/**
 * Checks a parsed JSON value against the envelope and keeps only the envelope's fields
 * (other fields are dropped, as PROTOCOL.md asks of forwarders).
 *
 * @param {unknown} value
 * @returns {{event: Event, error?: undefined} | {event?: undefined, error: Event}}
 */
export function toEvent(value) {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { error: linkError('malformed_event', 'an event must be a JSON object') };
  }
  const v = /** @type {Record<string, unknown>} */ (value);
  // Name the refused event when we can, so its writer knows which write was not taken.
  const id = typeof v.id === 'string' && v.id.length <= MAX_ID_CHARS ? v.id : undefined;
  const named = id === undefined ? {} : { event: id };
  if (!isEventType(v.type)) {
    return { error: linkError('missing_type', 'missing or invalid "type"', named) };
  }
  if (v.id !== undefined && id === undefined) {
    return { error: linkError('malformed_event', '"id" must be a string of at most 128 chars') };
  }
  if (v.seq !== undefined && !(Number.isSafeInteger(v.seq) && /** @type {number} */ (v.seq) > 0)) {
    return { error: linkError('malformed_event', '"seq" must be a positive integer', named) };
  }
  /** @type {Event} */
  const event = { type: v.type };
  if (id !== undefined) event.id = id;
  if (v.seq !== undefined) event.seq = /** @type {number} */ (v.seq);
  if ('data' in v) event.data = v.data;
  return { event };
}
