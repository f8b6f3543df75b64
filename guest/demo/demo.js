// The demo page: one view service, "echo-view", talking to the guest service "echo" in the
// worker. Query options: ?worker=service|dedicated, ?upload=auto|stream|batch (forces the
// batched-POST fallback), ?bridge=auto|transfer|port (forces the MessagePort pump).

import { GuestWorker, defineViewService, startViewService } from '../src/index.js';

const query = new URLSearchParams(location.search);
const workerKind = query.get('worker') === 'dedicated' ? 'dedicated' : 'service';
const upload = query.get('upload') ?? 'auto';
const bridgeMode = /** @type {'auto' | 'transfer' | 'port'} */ (query.get('bridge') ?? 'auto');
const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

$('worker-kind').textContent = workerKind === 'dedicated' ? 'dedicated worker' : 'service worker';
$('upload-mode').textContent = upload;
$('bridge-mode').textContent = bridgeMode;

/** @param {string} id @param {string} status */
function showStatus(id, status) {
  $(id).textContent = status;
  $(id).dataset.status = status;
}

/** @param {string} listId @param {string} text */
function prepend(listId, text) {
  const list = $(listId);
  const item = document.createElement('li');
  item.textContent = text;
  list.prepend(item);
  while (list.children.length > 200) list.lastElementChild?.remove();
}

let sent = 0;
let echoed = 0;
const counts = () => {
  $('sent').textContent = String(sent);
  $('echoed').textContent = String(echoed);
  $('waiting').textContent = String(sent - echoed);
};

// The view's output: what the user types. A queue the form fills and the stream drains, so
// the session's backpressure reaches the form (a full queue waits).
/** @type {ReadableStreamDefaultController<import('../src/index.js').Event>} */
let outbox;
const tab = Math.random().toString(36).slice(2, 8);

const echoView = defineViewService('echo-view', (input) => {
  (async () => {
    for await (const event of input) {
      if (event.type === 'link.error') {
        const data = /** @type {import('../src/index.js').LinkErrorData} */ (event.data);
        prepend('errors', `${data.reason}${data.reconnect ? ' (reconnecting)' : ''}: ${data.message}`);
      } else {
        echoed++;
        counts();
        prepend('events', `#${event.seq} ${JSON.stringify(event.data)}`);
      }
    }
  })().catch((error) => prepend('errors', `view: ${error}`));
  return new ReadableStream({ start: (controller) => void (outbox = controller) });
});

/** @param {string} text */
function send(text) {
  sent++;
  // id: the echo is its acknowledgement; seq: replays after a reconnect are dropped by it.
  outbox.enqueue({ type: 'demo.say', id: `${tab}-${sent}`, seq: sent, data: { text } });
  counts();
}

$('send-form').addEventListener('submit', (event) => {
  event.preventDefault();
  send(/** @type {HTMLInputElement} */ ($('text')).value);
});
$('send-100').addEventListener('click', () => {
  for (let i = 0; i < 100; i++) send(`burst ${i + 1}`);
});

const config = `?upload=${encodeURIComponent(upload)}`;
const worker =
  workerKind === 'dedicated'
    ? GuestWorker.dedicated(new URL(`demo-worker.js${config}`, import.meta.url))
    : await GuestWorker.service(new URL(`demo-sw.js${config}`, import.meta.url));

await startViewService(echoView, {
  worker,
  service: 'echo',
  mode: bridgeMode,
  onStatus: (status) => {
    showStatus('bridge-status', status.bridge);
    showStatus('link-status', status.links.echo ?? 'connecting');
    // What the worker's link actually uses: 'auto' settles on stream or batch.
    if (status.uploads.echo) $('upload-mode').textContent = `${status.uploads.echo} (asked: ${upload})`;
  },
  session: { ackMatcher: (event) => (event.type.startsWith('link.') ? undefined : event.id) },
}).catch((error) => {
  showStatus('bridge-status', 'closed');
  prepend('errors', `could not start: ${error}`);
});
