// NDJSON framing (PROTOCOL.md section 1) as web streams: bytes <-> events.

import { MAX_EVENT_BYTES, linkError, toEvent } from './event.js';
import { chunkGate } from './pacing.js';

/** @typedef {import('./event.js').Event} Event */

const NEWLINE = 0x0a;
const CR = 0x0d;

/**
 * @typedef {object} DecodeOptions
 * @property {number} [maxEventBytes] limit on one line, newline included (default 64 KiB)
 * @property {number} [highWaterMark] events the readable side may hold before it stops
 *   taking bytes (default 16)
 */

/**
 * Bytes (UTF-8 NDJSON) in, events out.
 *
 * Lines may be split across chunks anywhere, even inside a multi-byte character. A bad
 * line never fails the stream: it is replaced by a non-fatal `link.error` event, in order,
 * with reason `event_too_large` (its bytes are skipped up to the next newline, and never
 * held: memory stays under `maxEventBytes`), `malformed_event` (not UTF-8, not a JSON
 * object, or a bad `id`/`seq`) or `missing_type`. Blank lines are ignored; a `\r` before
 * the newline is tolerated; a last line without a newline is still read.
 *
 * Stream contract: completes when the byte stream completes; a failure or cancel on either
 * side is passed through to the other, as for any TransformStream.
 *
 * @param {DecodeOptions} [options]
 * @returns {TransformStream<Uint8Array, Event>}
 */
export function decodeEvents({ maxEventBytes = MAX_EVENT_BYTES, highWaterMark = 16 } = {}) {
  const lines = lineDecoder({ maxEventBytes });
  return new TransformStream(
    {
      transform(chunk, controller) {
        lines.push(chunk, (event) => controller.enqueue(event));
      },
      flush(controller) {
        lines.end((event) => controller.enqueue(event));
      },
    },
    { highWaterMark: 1 },
    { highWaterMark },
  );
}

/**
 * The decoder of {@link decodeEvents} without a stream around it, for a reader that takes
 * the bytes itself (GatewayLink: one stream fewer per download, whose every enqueue costs
 * the browser more than the parsing). Same rules: `push` hands each event of a chunk to
 * `out`, in order, bad lines as `link.error` events; `end` reads a last line without a
 * newline. Memory: at most one unfinished line, under `maxEventBytes`.
 *
 * @param {{maxEventBytes?: number}} [options]
 * @returns {{push: (chunk: Uint8Array, out: (event: Event) => void) => void, end: (out: (event: Event) => void) => void}}
 */
export function lineDecoder({ maxEventBytes = MAX_EVENT_BYTES } = {}) {
  /** @type {Uint8Array[]} */
  let parts = [];
  let size = 0;
  // true while inside an oversize line: its bytes are dropped until the next newline.
  let skipping = false;
  const utf8 = new TextDecoder('utf-8', { fatal: true });

  /**
   * @param {Uint8Array} line
   * @param {(event: Event) => void} out
   */
  function emit(line, out) {
    let end = line.length;
    if (end > 0 && line[end - 1] === CR) end--;
    let text;
    try {
      text = utf8.decode(line.subarray(0, end));
    } catch {
      out(linkError('malformed_event', 'a line that is not UTF-8'));
      return;
    }
    if (text.trim() === '') return;
    let value;
    try {
      value = JSON.parse(text);
    } catch {
      out(linkError('malformed_event', 'a line that is not JSON'));
      return;
    }
    const { event, error } = toEvent(value);
    out(event ?? error);
  }

  function tooLarge() {
    return linkError('event_too_large', `an event over ${maxEventBytes} bytes was skipped`);
  }

  return {
    push(chunk, out) {
      let start = 0;
      while (start < chunk.length) {
        const nl = chunk.indexOf(NEWLINE, start);
        const end = nl === -1 ? chunk.length : nl;
        if (skipping) {
          if (nl === -1) return;
          skipping = false;
          start = nl + 1;
          continue;
        }
        // The line plus its newline must fit: refuse as soon as it cannot, before the
        // rest of it arrives, so an endless line costs no memory.
        if (size + (end - start) >= maxEventBytes) {
          parts = [];
          size = 0;
          out(tooLarge());
          if (nl === -1) {
            skipping = true;
            return;
          }
          start = nl + 1;
          continue;
        }
        if (nl === -1) {
          // Copy: a subarray would pin the producer's whole chunk until the line ends.
          parts.push(chunk.slice(start));
          size += chunk.length - start;
          return;
        }
        const piece = chunk.subarray(start, nl);
        emit(parts.length === 0 ? piece : concat([...parts, piece], size + piece.length), out);
        parts = [];
        size = 0;
        start = nl + 1;
      }
    },
    end(out) {
      if (!skipping && size > 0) emit(concat(parts, size), out);
      parts = [];
      size = 0;
    },
  };
}

/**
 * @typedef {object} EncodeOptions
 * @property {number} [maxBatchEvents] events queued before a write waits (default 128)
 * @property {number} [maxBatchBytes] bytes queued before a write waits (default 64 KiB)
 */

/**
 * Events in, bytes (UTF-8 NDJSON) out, coalesced: every event queued since the reader
 * last read goes out as one chunk, so a busy link makes one network write per batch
 * instead of one per event, while an idle link still sends each event at once. A reader
 * that asks again at once (fetch reading an upload body) gets, after the first chunk of a
 * task, the next only when that task is over: a write loop's events then go out together
 * rather than one per chunk (pacing.js).
 *
 * Bounded: a write waits once `maxBatchEvents` events or `maxBatchBytes` bytes are queued,
 * until the reader takes them. An event that cannot be serialised (cycle, BigInt) fails its
 * write and the stream. Events are encoded as given (JSON.stringify); this does not check
 * the envelope.
 *
 * Stream contract: closing the writable closes the readable after the queued bytes;
 * aborting the writable errors the readable (queued events are dropped); cancelling the
 * readable errors the writable, and a write waiting for room fails with the reason.
 *
 * @param {EncodeOptions} [options]
 * @returns {{readable: ReadableStream<Uint8Array>, writable: WritableStream<Event>}}
 */
export function encodeEvents({ maxBatchEvents = 128, maxBatchBytes = 64 * 1024 } = {}) {
  const utf8 = new TextEncoder();
  // Lines are queued as text and encoded once per chunk: a TextEncoder.encode per event
  // (a new Uint8Array each) cost more than the JSON.stringify in Chromium's profiles.
  /** @type {string[]} */
  let queued = [];
  let queuedBytes = 0;
  let closing = false;
  /** @type {{failed: true, reason: unknown} | null} */
  let failure = null;
  /** @type {(() => void) | null} */
  let wakeReader = null;
  /** @type {{resolve: () => void, reject: (e: unknown) => void} | null} */
  let waitingWriter = null;
  /** @type {ReadableStreamDefaultController<Uint8Array>} */
  let readController;
  /** @type {WritableStreamDefaultController} */
  let writeController;

  function notifyReader() {
    const wake = wakeReader;
    wakeReader = null;
    wake?.();
  }

  const gate = chunkGate();
  const readable = new ReadableStream(
    {
      start(controller) {
        readController = controller;
      },
      async pull(controller) {
        await gate.ready();
        while (queued.length === 0) {
          if (failure) return;
          if (closing) {
            controller.close();
            return;
          }
          await new Promise((resolve) => {
            wakeReader = () => resolve(undefined);
          });
        }
        controller.enqueue(utf8.encode(queued.join('')));
        gate.sent();
        queued = [];
        queuedBytes = 0;
        const writer = waitingWriter;
        waitingWriter = null;
        writer?.resolve();
      },
      cancel(reason) {
        failure = { failed: true, reason };
        queued = [];
        writeController.error(reason);
        waitingWriter?.reject(reason);
        waitingWriter = null;
      },
    },
    // Nothing is encoded ahead of a read: the queue of events is the only buffer.
    { highWaterMark: 0 },
  );

  const writable = new WritableStream(
    {
      start(controller) {
        writeController = controller;
      },
      write(event) {
        if (failure) throw failure.reason;
        const line = JSON.stringify(event) + '\n';
        queued.push(line);
        queuedBytes += utf8Length(line);
        notifyReader();
        if (queued.length < maxBatchEvents && queuedBytes < maxBatchBytes) return undefined;
        return new Promise((resolve, reject) => {
          waitingWriter = { resolve: () => resolve(undefined), reject };
        });
      },
      close() {
        closing = true;
        notifyReader();
      },
      abort(reason) {
        failure = { failed: true, reason };
        queued = [];
        readController.error(reason);
        notifyReader();
      },
    },
    { highWaterMark: 1 },
  );

  return { readable, writable };
}

/**
 * Encodes events as one NDJSON chunk.
 *
 * @param {Iterable<Event>} events
 * @returns {Uint8Array}
 */
export function encodeBatch(events) {
  let text = '';
  for (const event of events) text += JSON.stringify(event) + '\n';
  return new TextEncoder().encode(text);
}

/**
 * The length in UTF-8 of a string whose surrogates are paired (JSON.stringify's output
 * always is: it escapes lone ones), without encoding it.
 *
 * @param {string} text
 * @returns {number}
 */
export function utf8Length(text) {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // 1 byte below 0x80; 2 below 0x800; 3 for the rest of the BMP; a surrogate pair is 4.
    if (c >= 0x80) n += c < 0x800 || (c >= 0xd800 && c <= 0xdfff) ? 1 : 2;
  }
  return n;
}

/**
 * @param {Uint8Array[]} parts
 * @param {number} total
 * @returns {Uint8Array}
 */
export function concat(parts, total) {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
