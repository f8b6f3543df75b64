// The simplest browser test of the gateway (no runtime): a guest id, then an upload (a
// fetch with a ReadableStream body, duplex: 'half') and a download (a streaming response)
// for one link, with plain fetch. Writes three events, reads until their echoes are back.
// The result is `window.result` (and the page text).

const out = /** @type {HTMLElement} */ (document.getElementById('out'));

async function run() {
  const guest = (await (await fetch('/guest', { method: 'POST' })).json()).guest;
  const headers = { 'eventpaths-guest': guest };
  const link = `plain-${Math.random().toString(36).slice(2, 8)}`;
  const encoder = new TextEncoder();
  /** @type {ReadableStreamDefaultController<Uint8Array>} */
  let up = /** @type {any} */ (undefined);
  const body = new ReadableStream({ start: (c) => void (up = c) });
  // The upload first: the gateway pairs the download with it. Its response comes only
  // once its body ends (fetch is half duplex), so it is not awaited here.
  const upload = fetch(`/g/echo/${link}/up`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/x-ndjson' },
    body,
    // @ts-ignore: not in every RequestInit type yet
    duplex: 'half',
  });
  // Some browsers send nothing until the body has a first chunk: start with a heartbeat.
  up.enqueue(encoder.encode('{"type":"link.heartbeat","data":{}}\n'));
  const download = await fetch(`/g/echo/${link}/down`, { headers });
  if (!download.ok || !download.body) throw new Error(`download answered ${download.status}`);
  const events = [];
  for (let n = 1; n <= 3; n++) {
    up.enqueue(encoder.encode(JSON.stringify({ type: 'plain.ping', id: `p${n}`, seq: n, data: { n } }) + '\n'));
  }
  const reader = download.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  while (events.filter((e) => e.type === 'plain.ping').length < 3) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += value;
    let nl;
    while ((nl = buffer.indexOf('\n')) !== -1) {
      events.push(JSON.parse(buffer.slice(0, nl)));
      buffer = buffer.slice(nl + 1);
    }
  }
  up.close();
  const uploadAnswer = await (await upload).json();
  await reader.cancel();
  return { events, uploadAnswer, protocol: performance.getEntriesByType('resource').map((e) => /** @type {any} */ (e).nextHopProtocol) };
}

const result = run().then(
  (value) => ({ ok: true, ...value }),
  (error) => ({ ok: false, error: String(error) }),
);
/** @type {any} */ (window).result = result;
result.then((r) => (out.textContent = JSON.stringify(r, null, 1)));
