// A small gateway for tests: enough of PROTOCOL.md section 5 (guest ids, the paired
// upload/download, pairing grace, duplicate refusal, resume with ?after=, batched POSTs
// applied once in order) and of a host service behind it to test the guest link against a
// real HTTP peer. The host service is an echo with a log: each write (by `id`, applied
// once) is answered with an `echo` event carrying `data.ack`, and every event the host sends
// has a `seq`, so a download can resume from any point.
//
// One request handler serves both HTTP/2 (node:http2, h2c) and HTTP/1.1 (node:http): the
// guest link is tested over each.

import http from 'node:http';
import http2 from 'node:http2';
import { randomBytes } from 'node:crypto';

/**
 * @typedef {object} PeerOptions
 * @property {'h2' | 'http1'} [protocol]
 * @property {number} [pairingGraceMs] how long a download waits for its upload
 * @property {number} [pairingTimeoutMs] how long an upload waits for its download
 * @property {number} [heartbeatMs] heartbeat period on downloads; 0 for none
 * @property {number} [replayOverlap] replay this many events at or before `after` on a
 *   resume, as a sloppy server might: the guest must drop them
 */

export async function startGatewayPeer(/** @type {PeerOptions} */ options = {}) {
  const { protocol = 'h2', pairingGraceMs = 300, pairingTimeoutMs = 2000, heartbeatMs = 0, replayOverlap = 0 } =
    options;
  const guests = new Set();
  /** @type {Map<string, Pair>} */
  const pairs = new Map();
  const sockets = new Set();

  /**
   * @typedef {object} Pair
   * @property {any} [upload] the upload's response, while it runs
   * @property {any} [download] the download's response, while it runs
   * @property {(() => void)[]} waitingForUpload
   * @property {object[]} log every event the host sent, with its seq
   * @property {string[]} applied ids (or `-` for id-less events) of applied writes, in order
   * @property {object[]} received every event received from the guest, duplicates included
   * @property {Set<string>} ids
   * @property {number} nextBatch
   * @property {number[]} batchesSeen `n` of every batch POST, retries included
   * @property {string[]} afters the `after` of every download, '' when absent
   * @property {number} uploads
   * @property {number} downloads
   * @property {number} heartbeatsIn
   */

  const control = {
    /** ignore this many uploads (as if they reached another gateway instance) */
    lostUploads: 0,
    /** refuse this many downloads with this status and body */
    refusals: /** @type {{status: number, body: object}[]} */ ([]),
    /** drop the download instead of acknowledging the next N new writes (they are applied) */
    dropBeforeAck: 0,
    /** answers for the next batch POSTs, in order: 'apply-and-drop', 'accept-lose-and-drop',
     * or {status, body, headers} */
    batchFaults: /** @type {any[]} */ ([]),
    /** stop writing on downloads (no heartbeats either): a peer gone silent */
    silent: false,
    /** end the next download cleanly: the host service has finished */
    completeNext: false,
    /** ...this long after its upload was answered */
    completeDelayMs: 0,
    /**
     * The host service is unreachable for the next `left` downloads: each is answered as the
     * gateway does then, 200 and a fatal link.error (no link.ready), and the pair ends.
     * `reason` defaults to connect_failed; `message` is the gateway's own words.
     */
    deadHost: /** @type {{left: number, reason?: string, message?: string, retryAfter?: number}} */ ({ left: 0 }),
    /** refuse every upload, download and batch with this, as the gateway's admission does */
    refuseAll: /** @type {{status: number, body: object, downloadDelayMs?: number} | undefined} */ (undefined),
  };

  const pairKey = (guest, service, link) => `${guest}|${service}|${link}`;
  /** @returns {Pair} */
  function pairFor(key) {
    let pair = pairs.get(key);
    if (!pair) {
      pair = {
        waitingForUpload: [],
        log: [],
        applied: [],
        received: [],
        ids: new Set(),
        nextBatch: 0,
        batchesSeen: [],
        afters: [],
        uploads: 0,
        downloads: 0,
        heartbeatsIn: 0,
      };
      pairs.set(key, pair);
    }
    return pair;
  }

  function json(res, status, body, headers = {}) {
    if (res.headersSent) return;
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  }

  /** The host service: sends an event on the link (logged with a seq, for resume). */
  function hostSend(pair, type, data) {
    const event = { type, seq: pair.log.length + 1, data };
    pair.log.push(event);
    if (!control.silent) pair.download?.write(JSON.stringify(event) + '\n');
    return event;
  }

  /** The host service receiving one event from the guest. */
  function hostReceive(pair, event) {
    pair.received.push(event);
    if (event.type === 'link.heartbeat') {
      pair.heartbeatsIn++;
      return;
    }
    if (event.id !== undefined && pair.ids.has(event.id)) {
      // A retried write: acknowledged again, applied once.
      hostSend(pair, 'echo', { ack: event.id, duplicate: true });
      return;
    }
    if (event.id !== undefined) pair.ids.add(event.id);
    pair.applied.push(event.id ?? `-${JSON.stringify(event.data)}`);
    if (event.id !== undefined && control.dropBeforeAck > 0) {
      control.dropBeforeAck--;
      dropDownload(pair);
      return;
    }
    hostSend(pair, 'echo', { ack: event.id, of: event.data });
  }

  function dropDownload(pair) {
    const res = pair.download;
    if (!res) return;
    pair.download = undefined;
    const up = pair.upload;
    pair.upload = undefined;
    if (up?.stream) up.stream.close(http2.constants.NGHTTP2_CANCEL);
    else up?.socket?.destroy();
    // An abrupt end, as a lost connection looks: RST_STREAM on HTTP/2, a closed socket on 1.1.
    if (res.stream) res.stream.close(http2.constants.NGHTTP2_CANCEL);
    else res.socket?.destroy();
  }

  /** Splits an NDJSON body into events, independently of the code under test. */
  function readLines(req, onEvent, onEnd) {
    let rest = '';
    req.setEncoding('utf8');
    req.on('data', (text) => {
      rest += text;
      let nl;
      while ((nl = rest.indexOf('\n')) !== -1) {
        const line = rest.slice(0, nl).trim();
        rest = rest.slice(nl + 1);
        if (line) onEvent(JSON.parse(line));
      }
    });
    req.on('end', onEnd);
  }

  async function handle(req, res) {
    const url = new URL(req.url, 'http://peer');
    if (req.method === 'POST' && url.pathname === '/guest') {
      const guest = randomBytes(16).toString('hex');
      guests.add(guest);
      return json(res, 200, { guest });
    }
    const match = /^\/g\/([^/]+)\/([A-Za-z0-9_-]{1,64})\/(up|down|batch)$/.exec(url.pathname);
    if (!match) return json(res, 404, { error: 'unknown_service', message: url.pathname });
    const guest = req.headers['eventpaths-guest'];
    if (!guests.has(guest)) return json(res, 401, { error: 'bad_guest' });
    const [, service, link, kind] = match;
    if (service === 'missing') return json(res, 404, { error: 'unknown_service', message: 'no such service' });
    const pair = pairFor(pairKey(guest, service, link));
    if (control.refuseAll) {
      if (kind === 'down') pair.afters.push(url.searchParams.get('after') ?? '');
      if (kind === 'up') pair.uploads++;
      const { status, body, downloadDelayMs = 0 } = control.refuseAll;
      // A delayed download refusal: the upload's answer reaches the guest first.
      if (kind === 'down' && downloadDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, downloadDelayMs));
      return json(res, status, body);
    }

    if (kind === 'up' && req.method === 'POST') {
      if (control.lostUploads > 0) {
        control.lostUploads--;
        req.resume(); // read and ignore: this upload "went to another instance"
        return;
      }
      if (pair.upload) return json(res, 409, { error: 'duplicate_stream' });
      pair.upload = res;
      pair.uploads++;
      for (const wake of pair.waitingForUpload.splice(0)) wake();
      const timeout = setTimeout(() => {
        if (!pair.download && pair.upload === res) {
          pair.upload = undefined;
          json(res, 408, { error: 'pairing_timeout' });
          req.destroy();
        }
      }, pairingTimeoutMs);
      const gone = () => {
        clearTimeout(timeout);
        if (pair.upload === res) pair.upload = undefined;
      };
      res.on('close', gone);
      readLines(
        req,
        (event) => hostReceive(pair, event),
        () => {
          gone();
          json(res, 200, {});
        },
      );
      return;
    }

    if (kind === 'down' && req.method === 'GET') {
      pair.afters.push(url.searchParams.get('after') ?? '');
      const refusal = control.refusals.shift();
      if (refusal) return json(res, refusal.status, refusal.body);
      if (pair.download) return json(res, 409, { error: 'duplicate_stream' });
      const batchMode = url.searchParams.get('mode') === 'batch';
      if (!batchMode && !pair.upload) {
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, pairingGraceMs);
          pair.waitingForUpload.push(() => {
            clearTimeout(timer);
            resolve(undefined);
          });
        });
        if (!pair.upload) return json(res, 409, { error: 'unpaired', action: 'reopen' });
      }
      if (pair.download) return json(res, 409, { error: 'duplicate_stream' });
      if (control.deadHost.left > 0) {
        control.deadHost.left--;
        const { reason = 'connect_failed', message = 'connect to http://10.9.8.7:8081/links/tasks failed: Connection refused', retryAfter } =
          control.deadHost;
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        res.end(JSON.stringify({ type: 'link.error', data: { reason, message, fatal: true, retryAfter } }) + '\n');
        const up = pair.upload;
        pair.upload = undefined;
        if (up) json(up, 200, { closed: reason });
        return;
      }
      pair.download = res;
      pair.downloads++;
      // Like gateway-host-run: a batch-mode download opens a new pair, numbered from 0.
      if (batchMode) pair.nextBatch = 0;
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      const after = Number(url.searchParams.get('after') ?? 0);
      let body = JSON.stringify({ type: 'link.ready', data: { link, service } }) + '\n';
      for (const event of pair.log.slice(Math.max(0, after - replayOverlap))) body += JSON.stringify(event) + '\n';
      res.write(body);
      if (control.completeNext) {
        control.completeNext = false;
        pair.download = undefined;
        // As the gateway does when its host link ends: the upload is answered
        // 200 {"closed": "done"}, and that answer can reach the guest before the download's
        // last events do (here it always does when completeDelayMs > 0).
        const up = pair.upload;
        pair.upload = undefined;
        if (up) json(up, 200, { closed: 'done' });
        setTimeout(() => res.end(), control.completeDelayMs);
        return;
      }
      const beat =
        heartbeatMs > 0 &&
        setInterval(() => {
          if (!control.silent) res.write('{"type":"link.heartbeat","data":{}}\n');
        }, heartbeatMs);
      res.on('close', () => {
        if (beat) clearInterval(beat);
        if (pair.download === res) pair.download = undefined;
        // The pair is over: its upload is ended too, so the guest can open a new one.
        if (pair.upload) {
          const up = pair.upload;
          pair.upload = undefined;
          if (up.stream) up.stream.close(http2.constants.NGHTTP2_CANCEL);
          else up.socket?.destroy();
        }
      });
      return;
    }

    if (kind === 'batch' && req.method === 'POST') {
      const n = Number(url.searchParams.get('n'));
      pair.batchesSeen.push(n);
      const events = [];
      readLines(
        req,
        (event) => events.push(event),
        () => {
          // Like gateway-host-run: batches belong to an open batch-mode download.
          if (!pair.download) return json(res, 404, { error: 'no_link', action: 'reopen' });
          const fault = control.batchFaults.shift();
          if (fault === 'accept-lose-and-drop') {
            // Taken (200), then the pair dies before the host got them: a crashed gateway.
            json(res, 200, {});
            dropDownload(pair);
            return;
          }
          if (fault && fault !== 'apply-and-drop') return json(res, fault.status, fault.body, fault.headers);
          if (n < pair.nextBatch) return json(res, 200, { duplicate: true });
          if (n > pair.nextBatch) return json(res, 409, { error: 'batch_gap', expected: pair.nextBatch });
          pair.nextBatch++;
          for (const event of events) hostReceive(pair, event);
          // Applied, but the answer is lost: the guest must retry and get {duplicate: true}.
          if (fault === 'apply-and-drop') {
            if (res.stream) res.stream.close(http2.constants.NGHTTP2_CANCEL);
            else res.socket?.destroy();
            return;
          }
          json(res, 200, {});
        },
      );
      return;
    }
    json(res, 405, { error: 'method_not_allowed' });
  }

  const onRequest = (req, res) => {
    handle(req, res).catch((error) => {
      if (!res.headersSent) json(res, 500, { error: 'peer_failed', message: String(error) });
    });
  };
  const server = protocol === 'h2' ? http2.createServer(onRequest) : http.createServer(onRequest);
  server.on(protocol === 'h2' ? 'session' : 'connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());

  return {
    url: `http://127.0.0.1:${port}`,
    control,
    /** the pair for the only guest that used `link`, for assertions */
    pair(service, link) {
      for (const [key, pair] of pairs) if (key.endsWith(`|${service}|${link}`)) return pair;
      return undefined;
    },
    /** the pair of the first link of `service` whose name matches `pattern` */
    pairMatching(service, pattern) {
      for (const [key, pair] of pairs) {
        const [, s, link] = key.split('|');
        if (s === service && pattern.test(link)) return pair;
      }
      return undefined;
    },
    /** the host service sends an event on a link (logged for resume even if no download is open) */
    send(service, link, type, data) {
      const pair = this.pair(service, link);
      if (!pair) throw new Error(`no pair for ${service}/${link}`);
      return hostSend(pair, type, data);
    },
    dropDownload(service, link) {
      const pair = this.pair(service, link);
      if (pair) dropDownload(pair);
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
