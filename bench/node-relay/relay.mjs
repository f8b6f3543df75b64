// The gateway's peer in bench/: a Node.js http2 relay that pairs guest streams the way the
// gateway does (docs/PROTOCOL.md, section 5) and relays each upload's bytes to its download
// (echo semantics), with nothing but Node's built-in http2 module. See bench/README.md.
//
//   node --expose-gc bench/node-relay/relay.mjs <port> <cert.pem> <key.pem>
//
// Routes (HTTPS, h2 via ALPN only):
//   POST /guest                  -> 200 {"guest": "<random id>"}
//   POST /g/{service}/{link}/up  (streaming body; header eventpaths-guest)
//   GET  /g/{service}/{link}/down                (header eventpaths-guest)
//     -> 200 application/x-ndjson: a link.ready line, then the upload's bytes as they arrive
//   GET  /stats                  -> memory after a full GC (needs --expose-gc), pairs held
//
// Pairing: (guest, service, link) ties an upload to a download; either may come first. A
// download waits 2 s for its upload (409 unpaired), an upload 10 s for its download (408), a
// second upload or download for a pair is refused (409 duplicate_stream). Backpressure is
// Node's stream piping: HTTP/2 flow control on the download pauses the upload's reading.
import http2 from 'node:http2';
import fs from 'node:fs';
import crypto from 'node:crypto';

const [portArg, certPath, keyPath] = process.argv.slice(2);
if (!portArg || !certPath || !keyPath) {
  console.error('usage: node --expose-gc relay.mjs <port> <cert.pem> <key.pem>');
  process.exit(2);
}

const PAIRING_GRACE_MS = 2000;
const PAIRING_TIMEOUT_MS = 10000;
const LINK = /^\/g\/([A-Za-z0-9_.-]{1,64})\/([A-Za-z0-9_-]{1,64})\/(up|down)$/;
const { NGHTTP2_CANCEL } = http2.constants;

/** key -> { up, down, timer } */
const pairs = new Map();
let paired = 0;

function json(stream, status, body) {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  stream.respond({ ':status': status, 'content-type': 'application/json', 'cache-control': 'no-store' });
  stream.end(JSON.stringify(body));
}

function forget(key, pair) {
  if (pairs.get(key) === pair) pairs.delete(key);
  clearTimeout(pair.timer);
}

function start(key, pair) {
  clearTimeout(pair.timer);
  paired++;
  const { up, down } = pair;
  down.respond({ ':status': 200, 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  down.write(JSON.stringify({ type: 'link.ready', data: { link: key, service: pair.service } }) + '\n');
  up.pipe(down); // ends the download when the upload ends; pauses the upload when the download is full
  up.on('end', () => json(up, 200, { closed: 'done' }));
  const close = () => {
    forget(key, pair);
    if (!up.closed && !up.destroyed) up.close(NGHTTP2_CANCEL);
    if (!down.closed && !down.destroyed) down.close(NGHTTP2_CANCEL);
  };
  up.on('aborted', close);
  down.on('aborted', close);
  down.on('close', () => {
    forget(key, pair);
    if (!up.closed && !up.destroyed && !up.readableEnded) up.close(NGHTTP2_CANCEL);
  });
}

function stats(stream) {
  if (typeof global.gc === 'function') {
    global.gc();
    global.gc();
  }
  const m = process.memoryUsage();
  json(stream, 200, { ...m, pairs: pairs.size, paired, gc: typeof global.gc === 'function' });
}

const server = http2.createSecureServer({
  cert: fs.readFileSync(certPath),
  key: fs.readFileSync(keyPath),
  allowHTTP1: false,
  settings: { maxConcurrentStreams: 256 }, // as the gateway's quarkus.http.limits.max-concurrent-streams
});

server.on('stream', (stream, headers) => {
  stream.on('error', () => {}); // a reset stream is that stream's business only
  const method = headers[':method'];
  const path = headers[':path'].split('?')[0];
  if (path === '/guest' && method === 'POST') {
    stream.resume();
    json(stream, 200, { guest: crypto.randomBytes(24).toString('base64url') });
    return;
  }
  if (path === '/stats' && method === 'GET') {
    stats(stream);
    return;
  }
  const m = LINK.exec(path);
  if (!m || (m[3] === 'up' ? method !== 'POST' : method !== 'GET')) {
    stream.resume();
    json(stream, 404, { error: 'not_found', message: method + ' ' + path });
    return;
  }
  const guest = headers['eventpaths-guest'];
  if (!guest) {
    stream.resume();
    json(stream, 401, { error: 'bad_guest', message: 'no eventpaths-guest header' });
    return;
  }
  const [, service, link, half] = m;
  const key = guest + '/' + service + '/' + link;
  let pair = pairs.get(key);
  if (!pair) {
    pair = { service, up: null, down: null, timer: null };
    pairs.set(key, pair);
    pair[half] = stream;
    const p = pair;
    if (half === 'up') {
      stream.pause(); // unread until paired
      p.timer = setTimeout(() => {
        forget(key, p);
        json(stream, 408, { error: 'pairing_timeout', action: 'reopen' });
        if (!stream.readableEnded) stream.close(NGHTTP2_CANCEL);
      }, PAIRING_TIMEOUT_MS);
    } else {
      p.timer = setTimeout(() => {
        forget(key, p);
        json(stream, 409, { error: 'unpaired', action: 'reopen' });
      }, PAIRING_GRACE_MS);
    }
    stream.on('close', () => {
      if (!p.up || !p.down) forget(key, p); // left before it was paired
    });
    return;
  }
  if (pair[half]) {
    stream.resume();
    json(stream, 409, { error: 'duplicate_stream', action: 'close the old pair, then reopen' });
    return;
  }
  pair[half] = stream;
  start(key, pair);
});

server.on('sessionError', () => {});
server.listen(Number(portArg), '127.0.0.1', () => {
  console.log(`relay listening on 127.0.0.1:${portArg} (gc ${typeof global.gc === 'function' ? 'exposed' : 'NOT exposed'})`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
