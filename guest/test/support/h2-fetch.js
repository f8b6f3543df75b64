// A fetch over node:http2 (h2c with prior knowledge), for the HTTP/2 runs of the gateway
// link tests: Node's own fetch speaks only HTTP/1.1 to a plain-text server, while browsers
// stream uploads only over HTTP/2. It covers what the guest link uses: method, headers, a
// string, byte or ReadableStream body (sent as it is pulled, honouring HTTP/2 flow control),
// a streaming response body, and abort (RST_STREAM).

import http2 from 'node:http2';

export function createH2Fetch() {
  /** @type {Map<string, http2.ClientHttp2Session>} */
  const sessions = new Map();

  function session(origin) {
    let s = sessions.get(origin);
    if (!s || s.closed || s.destroyed) {
      s = http2.connect(origin);
      s.on('error', () => {}); // surfaced through the streams that fail with it
      sessions.set(origin, s);
    }
    return s;
  }

  /**
   * @param {string} url
   * @param {RequestInit & {duplex?: string}} [init]
   * @returns {Promise<Response>}
   */
  async function fetch(url, init = {}) {
    const u = new URL(url);
    const signal = init.signal;
    if (signal?.aborted) throw signal.reason ?? new DOMException('aborted', 'AbortError');
    const headers = { ':method': init.method ?? 'GET', ':path': u.pathname + u.search };
    for (const [k, v] of Object.entries(init.headers ?? {})) headers[k.toLowerCase()] = v;
    const body = init.body;
    const stream = session(u.origin).request(headers, { endStream: body == null });

    const onAbort = () => stream.close(http2.constants.NGHTTP2_CANCEL);
    signal?.addEventListener('abort', onAbort, { once: true });
    stream.on('close', () => signal?.removeEventListener('abort', onAbort));

    if (body instanceof ReadableStream) void pump(body, stream);
    else if (body != null) stream.end(typeof body === 'string' ? body : Buffer.from(/** @type {any} */ (body)));

    const responseHeaders = await new Promise((resolve, reject) => {
      stream.once('response', resolve);
      stream.once('error', reject);
      stream.once('close', () => reject(signal?.reason ?? new TypeError('stream closed before a response')));
    });
    const status = responseHeaders[':status'];
    const plain = {};
    for (const [k, v] of Object.entries(responseHeaders)) if (!k.startsWith(':')) plain[k] = String(v);
    return new Response(status === 204 ? null : responseBody(stream), { status, headers: plain });
  }

  /**
   * The response body as a web stream. A stream reset mid-body (RST_STREAM, any code but
   * NO_ERROR) fails it, as it fails a browser's fetch body; Node ends such a stream quietly
   * for CANCEL, which would look like a clean end.
   */
  function responseBody(stream) {
    let finished = false;
    return new ReadableStream(
      {
        start(controller) {
          stream.on('data', (chunk) => {
            if (finished) return;
            controller.enqueue(new Uint8Array(chunk));
            if ((controller.desiredSize ?? 0) <= 0) stream.pause();
          });
          stream.on('close', () => {
            if (finished) return;
            finished = true;
            try {
              if (stream.rstCode === http2.constants.NGHTTP2_NO_ERROR) controller.close();
              else controller.error(new TypeError(`stream reset (code ${stream.rstCode})`));
            } catch {
              // cancelled by the reader already
            }
          });
        },
        pull() {
          stream.resume();
        },
        cancel() {
          finished = true;
          stream.close(http2.constants.NGHTTP2_CANCEL);
        },
      },
      { highWaterMark: 16 },
    );
  }

  /** Sends a web stream as the request body, no faster than the HTTP/2 stream takes it. */
  async function pump(body, stream) {
    const reader = body.getReader();
    stream.on('close', () => reader.cancel(new Error('request stream closed')).catch(() => {}));
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || stream.destroyed) break;
        if (!stream.write(value)) await new Promise((resolve) => stream.once('drain', resolve).once('close', resolve));
      }
      if (!stream.destroyed) stream.end();
    } catch {
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
    }
  }

  fetch.close = () => {
    for (const s of sessions.values()) s.destroy();
    sessions.clear();
  };
  return fetch;
}
