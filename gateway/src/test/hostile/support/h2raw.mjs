// A raw HTTP/2 client: what Node's http2 will not send. Frames are written byte for byte
// (RFC 9113 section 4), header blocks with HPACK literals only (RFC 7541: no Huffman, no
// table unless asked), so a test can send a zero window and then never read, trickle a
// preface, flood SETTINGS or PING, or open a header block and never finish it. Incoming
// frames are parsed just far enough to see GOAWAY, RST_STREAM and HEADERS on a stream.

import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const T = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 };
export const F = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 };
export const S = { HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5, MAX_HEADER_LIST_SIZE: 6 };
export const ERR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, CANCEL: 8, ENHANCE_YOUR_CALM: 11 };

/** One frame: 9-byte header (length, type, flags, stream id) and the payload. */
export function frame(type, flags, stream, payload = Buffer.alloc(0)) {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** SETTINGS with the given [id, value] pairs. */
export function settings(pairs = [], ack = false) {
  const p = Buffer.alloc(pairs.length * 6);
  pairs.forEach(([id, v], i) => { p.writeUInt16BE(id, i * 6); p.writeUInt32BE(v >>> 0, i * 6 + 2); });
  return frame(T.SETTINGS, ack ? F.ACK : 0, 0, p);
}

export function ping(data = Buffer.alloc(8), ack = false) {
  return frame(T.PING, ack ? F.ACK : 0, 0, data);
}

export function rstStream(stream, code) {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return frame(T.RST_STREAM, 0, stream, p);
}

export function windowUpdate(stream, increment) {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(increment);
  return frame(T.WINDOW_UPDATE, 0, stream, p);
}

/** An HPACK integer with an n-bit prefix, the first byte's high bits being `first`. */
export function hpackInt(value, prefixBits, first = 0) {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([first | value]);
  const out = [first | max];
  value -= max;
  while (value >= 128) { out.push((value % 128) + 128); value = Math.floor(value / 128); }
  out.push(value);
  return Buffer.from(out);
}

function hpackString(s) {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s, 'latin1');
  return Buffer.concat([hpackInt(b.length, 7, 0), b]);
}

/** A literal header field, not indexed (0x00) or added to the dynamic table (0x40). */
export function literal(name, value, index = false) {
  return Buffer.concat([Buffer.from([index ? 0x40 : 0x00]), hpackString(name), hpackString(value)]);
}

/** A reference to table entry `i` (62 is the newest dynamic entry). */
export function indexed(i) {
  return hpackInt(i, 7, 0x80);
}

/** A header block of literals: pseudo-headers first, as given. */
export function headerBlock(headers) {
  return Buffer.concat(headers.map(([n, v]) => literal(n, v)));
}

/** A request's HEADERS frame (END_HEADERS; END_STREAM when `end`). */
export function headers(stream, list, end = false) {
  return frame(T.HEADERS, F.END_HEADERS | (end ? F.END_STREAM : 0), stream, headerBlock(list));
}

/** DATA frames for `payload`, split at the default SETTINGS_MAX_FRAME_SIZE (16 KiB). */
export function data(stream, payload, end = false) {
  const bytes = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const frames = [];
  for (let at = 0; at < bytes.length || frames.length === 0; at += 16_384) {
    const last = at + 16_384 >= bytes.length;
    frames.push(frame(T.DATA, end && last ? F.END_STREAM : 0, stream, bytes.subarray(at, at + 16_384)));
  }
  return Buffer.concat(frames);
}

/** The pseudo-headers of a request to `authority`. */
export function request(method, path, authority, scheme = 'https', extra = []) {
  return [[':method', method], [':scheme', scheme], [':authority', authority], [':path', path], ...extra];
}

/**
 * A connection that writes whatever it is given and records what the server sends:
 * `frames` (type, flags, stream, payload), `goaway` (the first GOAWAY's error code),
 * `resets` (stream -> code), `closed` (a promise of the time the socket closed).
 */
export class RawConnection {
  /**
   * @param {{host: string, port: number, tls?: boolean, ca?: string}} target
   * @returns {Promise<RawConnection>} once TLS (h2 via ALPN) or TCP is up
   */
  static open({ host = '127.0.0.1', port, tls: useTls = true, ca }) {
    return new Promise((resolve, reject) => {
      const socket = useTls
        ? tls.connect({ host, port, servername: 'localhost', ALPNProtocols: ['h2'], ca: ca ? readFileSync(ca) : undefined })
        : net.connect({ host, port });
      const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no connection to ${host}:${port} in 10 s`)); }, 10_000);
      socket.once(useTls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        if (useTls && socket.alpnProtocol !== 'h2') { socket.destroy(); reject(new Error(`ALPN gave ${socket.alpnProtocol}`)); return; }
        resolve(new RawConnection(socket));
      });
      socket.once('error', (e) => { clearTimeout(timer); reject(e); });
    });
  }

  constructor(socket) {
    this.socket = socket;
    this.frames = [];
    /** @type {number | null} */
    this.goaway = null;
    this.resets = new Map();
    this.bytesIn = 0;
    this.keepFrames = 1000; // the first frames only: a flood's answers are counted, not kept
    this.counts = new Map();
    let buf = Buffer.alloc(0);
    this.openedAt = Date.now();
    this.closed = new Promise((resolve) => socket.once('close', () => { this.closedAt = Date.now(); resolve(this.closedAt); }));
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      this.bytesIn += chunk.length;
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const f = { type: buf[3], flags: buf[4], stream: buf.readUInt32BE(5) & 0x7fffffff, payload: buf.subarray(9, 9 + len) };
        buf = buf.subarray(9 + len);
        this.counts.set(f.type, (this.counts.get(f.type) ?? 0) + 1);
        if (this.frames.length < this.keepFrames) this.frames.push(f);
        if (f.type === T.GOAWAY && this.goaway === null) this.goaway = f.payload.readUInt32BE(4);
        if (f.type === T.RST_STREAM) this.resets.set(f.stream, f.payload.readUInt32BE(0));
        for (const w of this.waiters.splice(0)) if (!w(f)) this.waiters.push(w);
      }
    });
    /** @type {((f: any) => boolean)[]} */
    this.waiters = [];
  }

  get isClosed() {
    return this.socket.destroyed || this.closedAt !== undefined;
  }

  /** Writes; resolves when the bytes left (or at once if the socket is gone). */
  write(bytes) {
    return new Promise((resolve) => {
      if (this.socket.destroyed || !this.socket.writable) { resolve(false); return; }
      this.socket.write(bytes, (err) => resolve(!err));
    });
  }

  /** The preface and a SETTINGS frame (and, unless told, the ACK of the server's). */
  async start(pairs = [], { ack = true } = {}) {
    await this.write(Buffer.concat([PREFACE, settings(pairs), ...(ack ? [settings([], true)] : [])]));
  }

  /** The first incoming frame that matches, or null after `ms`. */
  next(match, ms) {
    return new Promise((resolve) => {
      const found = this.frames.find(match);
      if (found) { resolve(found); return; }
      const timer = setTimeout(() => { this.waiters = this.waiters.filter((w) => w !== waiter); resolve(null); }, ms);
      const waiter = (f) => { if (!match(f)) return false; clearTimeout(timer); resolve(f); return true; };
      this.waiters.push(waiter);
    });
  }

  /** Resolves true once the server sent GOAWAY or the socket closed, false after `ms`. */
  async cutOff(ms) {
    if (this.goaway !== null || this.isClosed) return true;
    const goaway = this.next((f) => f.type === T.GOAWAY, ms).then((f) => f !== null);
    const closed = this.closed.then(() => true);
    const timeout = new Promise((r) => setTimeout(() => r(false), ms));
    return Promise.race([goaway, closed, timeout]);
  }

  /** Whether the server closed the socket within `ms` (a GOAWAY alone does not count). */
  async closedWithin(ms) {
    if (this.isClosed) return true;
    return Promise.race([this.closed.then(() => true), new Promise((r) => setTimeout(() => r(false), ms))]);
  }

  destroy() {
    this.socket.destroy();
  }
}

/** Writes `bytes` one at a time, one every `everyMs`, until done or the socket is gone. */
export async function trickle(conn, bytes, everyMs, stopAt = Infinity) {
  for (let i = 0; i < bytes.length && Date.now() < stopAt; i++) {
    if (conn.isClosed) return i;
    if (!(await conn.write(bytes.subarray(i, i + 1)))) return i;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return bytes.length;
}
