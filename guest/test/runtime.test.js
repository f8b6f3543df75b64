import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  connectServices,
  defineGuestService,
  defineViewService,
  runService,
  serveGuestServices,
  startViewService,
} from '../src/index.js';
import { startGatewayPeer } from './support/gateway-peer.js';
import { createH2Fetch } from './support/h2-fetch.js';
import { collect, countingSource, delay, streamOf, until } from './support/streams.js';

const mapStream = (f) => new TransformStream({ transform: (e, c) => c.enqueue(f(e)) });

test('window view -> worker guest service -> gateway -> host and back', async (t) => {
  const peer = await startGatewayPeer({ protocol: 'h2' });
  const fetch = createH2Fetch();
  const { port1: window, port2: worker } = new MessageChannel();
  t.after(async () => {
    window.close();
    worker.close();
    fetch.close();
    await peer.close();
  });

  const tasks = defineGuestService(
    'tasks',
    (input, ctx) => {
      const store = ctx.link('store');
      input.pipeTo(store.writable).catch(() => {});
      return store.readable;
    },
    { links: { store: 'task-store' } },
  );
  serveGuestServices({
    gateway: peer.url,
    scope: worker,
    services: [tasks],
    linkOptions: { fetch, uploadMode: 'stream', backoffInitialMs: 20 },
  });

  const received = [];
  const view = defineViewService('task-list', (input) => {
    const reader = input.getReader();
    let sent = false;
    return new ReadableStream({
      async pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue({ type: 'task.add', id: 'v1', data: 'milk' });
          return;
        }
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          received.push(value);
          if (value.type === 'echo') break;
        }
        await reader.cancel('view done');
        controller.close();
      },
    });
  });

  const statuses = [];
  const { done, session } = await startViewService(view, {
    worker: window,
    service: 'tasks',
    mode: 'port',
    onStatus: (s) => statuses.push(s),
  });
  await Promise.race([done, delay(5000).then(() => assert.fail('the view did not finish'))]);
  assert.deepEqual(received, [{ type: 'echo', seq: 1, data: { ack: 'v1', of: 'milk' } }]);
  const pair = peer.pairMatching('task-store', /^tasks-store-[a-z0-9]+-1$/);
  assert.ok(pair, 'the link is named after the service, its link and the run');
  assert.deepEqual(pair.applied, ['v1']);
  // The worker's link.status events became the session's status (and not view events).
  assert.ok(statuses.some((s) => s.links.store === 'open' && s.uploads.store === 'stream'), JSON.stringify(statuses));
  // Cancelling the view's input cancels the guest service, which closes its link.
  await until(() => !pair.download, 3000, 'the link to close');
  assert.equal(session.status.bridge, 'closed');
});

test('a link declared with resume: true opens with the window\'s resumeAfter; ctx.params reach the run', async (t) => {
  const peer = await startGatewayPeer({ protocol: 'h2' });
  const fetch = createH2Fetch();
  const { port1: window, port2: worker } = new MessageChannel();
  t.after(async () => {
    window.close();
    worker.close();
    fetch.close();
    await peer.close();
  });
  let seenParams;
  const feed = defineGuestService(
    'feed',
    (input, ctx) => {
      seenParams = ctx.params;
      input.cancel().catch(() => {});
      return ctx.link('board', { params: { board: String(ctx.params?.board) } }).readable;
    },
    { links: { board: { service: 'boards', resume: true } } },
  );
  serveGuestServices({ gateway: peer.url, scope: worker, services: [feed], linkOptions: { fetch, uploadMode: 'stream' } });
  // As a window does after its worker was replaced: it saw up to seq 41.
  const { openBridge } = await import('../src/bridge.js');
  const bridge = await openBridge(window, new ReadableStream(), {
    name: 'feed',
    mode: 'port',
    hello: { resumeAfter: 41, params: { board: 'b7' } },
  });
  await until(() => peer.pairMatching('boards', /^feed-board-/)?.afters.length, 3000, 'the download');
  assert.deepEqual(seenParams, { board: 'b7' });
  assert.deepEqual(peer.pairMatching('boards', /^feed-board-/).afters, ['41'], 'the link resumes after 41');
  await bridge.readable.cancel('done');
});

test('a service may return a TransformStream; its output is supervised', async () => {
  const service = defineViewService('double', () => mapStream((e) => ({ type: 'x', data: e.data * 2 })));
  const out = runService(service, streamOf({ type: 'n', data: 1 }, { type: 'n', data: 2 }));
  assert.deepEqual(await collect(out), [
    { type: 'x', data: 2 },
    { type: 'x', data: 4 },
  ]);
});

test('cancelling a service output aborts ctx.signal, closes its links and cancels its input', async () => {
  let signal;
  const closed = [];
  const service = defineGuestService(
    'ticker',
    (input, ctx) => {
      signal = ctx.signal;
      ctx.link('up');
      return countingSource().stream;
    },
    { links: { up: 'host-up' } },
  );
  const input = countingSource();
  const out = runService(service, input.stream, (local, { service: host }) => ({
    readable: new ReadableStream(),
    writable: new WritableStream(),
    close: async (reason) => void closed.push([local, host, reason]),
  }));
  const reader = out.getReader();
  await reader.read();
  await reader.cancel('bye');
  assert.equal(signal.aborted, true);
  assert.equal(signal.reason, 'bye');
  assert.deepEqual(closed, [['up', 'host-up', 'bye']]);
  assert.equal(input.cancelled, 'bye');
});

test('a link status reaches a reader waiting on a quiet output, and the output event after it is not lost', async () => {
  /** @type {(status: string) => void} */
  let report = () => {};
  /** @type {ReadableStreamDefaultController<any>} */
  let output;
  const service = defineGuestService(
    'quiet',
    (input, ctx) => {
      ctx.link('up');
      return new ReadableStream({ start: (c) => void (output = c) }, { highWaterMark: 0 });
    },
    { links: { up: 'host-up' } },
  );
  const out = runService(service, streamOf(), (local, def, extra, onStatus) => {
    report = (status) => onStatus(/** @type {any} */ (status));
    return { readable: new ReadableStream(), writable: new WritableStream(), close: async () => {} };
  });
  const reader = out.getReader();
  const first = reader.read();
  await delay(20);
  report('open'); // the output has nothing yet: the waiting read gets the status
  assert.deepEqual((await first).value, { type: 'link.status', data: { link: 'up', status: 'open' } });
  const second = reader.read();
  output.enqueue({ type: 'n', data: 1 });
  report('reconnecting'); // both ready at once: neither is lost, the order is theirs
  const seen = [(await second).value, (await reader.read()).value];
  assert.deepEqual(
    seen.map((e) => e.type + ':' + (e.data.status ?? e.data)).sort(),
    ['link.status:reconnecting', 'n:1'],
  );
  output.close();
  assert.equal((await reader.read()).done, true);
});

test('a service that returns something else fails its output, and an unnamed link throws', async () => {
  const wrong = defineViewService('wrong', () => /** @type {any} */ ({}));
  await assert.rejects(collect(runService(wrong, streamOf())), /must return a ReadableStream/);
  const noLinks = defineViewService('nolinks', (input, ctx) => {
    ctx.link('anything');
    return input;
  });
  await assert.rejects(collect(runService(noLinks, streamOf())), /no link named anything/);
});

test('two services in one realm: each output is the other input', async () => {
  const asker = defineViewService('asker', (input) => {
    const reader = input.getReader();
    let asked = 0;
    return new ReadableStream({
      async pull(c) {
        if (asked > 0) {
          const { value } = await reader.read();
          if (value.data !== asked * 10) c.error(new Error(`wrong answer ${value.data}`));
        }
        if (asked === 3) {
          await reader.cancel();
          c.close();
          return;
        }
        c.enqueue({ type: 'q', data: ++asked });
      },
    });
  });
  const answerer = defineViewService('answerer', () => mapStream((e) => ({ type: 'a', data: e.data * 10 })));
  await Promise.race([connectServices(asker, answerer), delay(3000).then(() => assert.fail('no end'))]);
});

test('a connection to an unknown guest service fails', async (t) => {
  const { port1, port2 } = new MessageChannel();
  t.after(() => {
    port1.close();
    port2.close();
  });
  serveGuestServices({ gateway: 'http://127.0.0.1:9', scope: port2, services: [] });
  const view = defineViewService('v', (input) => input);
  await assert.rejects(startViewService(view, { worker: port1, service: 'nope', mode: 'transfer' }), /no guest service named nope/);
});

test('two services in one realm: a failure of either output fails the connection', async () => {
  // The talker reads what comes back: without a reader, backpressure would (rightly) stop
  // everything before the failure is reached.
  const talker = defineViewService('talker', (input) => {
    input.pipeTo(new WritableStream()).catch(() => {});
    return countingSource().stream;
  });
  const breaker = defineViewService('breaker', (input) =>
    input.pipeThrough(
      new TransformStream({
        transform(e, c) {
          if (e.data === 3) throw new Error('broke at 3');
          c.enqueue(e);
        },
      }),
    ),
  );
  await assert.rejects(connectServices(talker, breaker), /broke at 3/);
});

test('a view that outputs a bad event gets a link.error on its input and goes on; its next event arrives', async (t) => {
  const { port1: window, port2: worker } = new MessageChannel();
  t.after(() => {
    window.close();
    worker.close();
  });
  const loop = defineGuestService('loop', (input) => input);
  const stop = serveGuestServices({ gateway: 'http://127.0.0.1:9', scope: worker, services: [loop] });
  t.after(stop);
  const received = [];
  const view = defineViewService('sender', (input) => {
    const reader = input.getReader();
    const out = [{ type: 'bad type!', id: 'b1' }, { type: 'note', id: 'n1', data: 'after the bad one' }];
    return new ReadableStream({
      async pull(controller) {
        if (out.length > 0) return controller.enqueue(out.shift());
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          received.push(value);
          if (value.type === 'note') break;
        }
        await reader.cancel('view done');
        controller.close();
      },
    });
  });
  const { done, session } = await startViewService(view, { worker: window, service: 'loop', mode: 'port' });
  await Promise.race([done, delay(5000).then(() => assert.fail(`the view did not finish; got ${JSON.stringify(received)}`))]);
  assert.equal(received.length, 2, JSON.stringify(received));
  assert.deepEqual([received[0].type, received[0].data.reason, received[0].data.event, received[0].data.fatal], [
    'link.error',
    'missing_type',
    'b1',
    false,
  ]);
  assert.match(received[0].data.message, /"type" must be 1-128 characters/);
  assert.deepEqual(received[1], { type: 'note', id: 'n1', data: 'after the bad one' });
  assert.equal(session.status.bridge, 'closed');
});
