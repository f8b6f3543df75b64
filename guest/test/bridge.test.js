import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  acceptConnections,
  connectToWorker,
  keepWorkerAlive,
  receiveStream,
  sendStream,
  supportsTransferableStreams,
} from '../src/bridge.js';
import { collect, countingSource, delay, streamOf, until } from './support/streams.js';

// A MessageChannel stands in for the window/worker boundary: the window posts to one end,
// the worker listens on the other, exactly as with a Worker and its `self`.
function realms() {
  const { port1, port2 } = new MessageChannel();
  const opened = [port1, port2];
  return {
    window: port1,
    worker: port2,
    close: () => opened.forEach((p) => p.close()),
  };
}

const never = () => new ReadableStream({ pull: () => new Promise(() => {}) });

const modes = supportsTransferableStreams() ? ['transfer', 'port'] : ['port'];

test('this Node can transfer ReadableStreams, so both bridge modes are tested', () => {
  // If a Node release drops transferable streams this fails loudly instead of silently
  // testing only the pump.
  assert.equal(supportsTransferableStreams(), true);
});

for (const mode of modes) {
  describe(`bridge in ${mode} mode`, () => {
    /** @type {ReturnType<typeof realms>[]} */
    const opened = [];
    const open = () => {
      const r = realms();
      opened.push(r);
      return r;
    };
    after(() => opened.forEach((r) => r.close()));

    test('round trip: the worker answers the window stream with its own, both complete', async () => {
      const { window, worker } = open();
      let seen;
      acceptConnections(worker, (input, info) => {
        seen = info;
        return input.pipeThrough(
          new TransformStream({ transform: (e, c) => c.enqueue({ type: 'echo', data: e.data * 10 }) }),
        );
      });
      const sent = [1, 2, 3, 4, 5].map((n) => ({ type: 'n', data: n }));
      const answer = await connectToWorker(window, streamOf(...sent), { name: 'tasks', mode });
      assert.deepEqual(await collect(answer), [10, 20, 30, 40, 50].map((n) => ({ type: 'echo', data: n })));
      assert.deepEqual(seen, { name: 'tasks', mode, hello: undefined });
    });

    test('the window can receive while it is still sending (both directions at once)', async () => {
      const { window, worker } = open();
      acceptConnections(worker, (input) => input.pipeThrough(new TransformStream()));
      /** @type {ReadableStreamDefaultController} */
      let controller;
      const outgoing = new ReadableStream({ start: (c) => void (controller = c) });
      const answer = (await connectToWorker(window, outgoing, { mode })).getReader();
      for (let i = 0; i < 3; i++) {
        controller.enqueue({ type: 'ping', data: i });
        assert.deepEqual((await answer.read()).value, { type: 'ping', data: i });
      }
      controller.close();
      assert.equal((await answer.read()).done, true);
    });

    test('backpressure window -> worker: a worker that does not read bounds the window source pulls', async () => {
      const { window, worker } = open();
      let input;
      acceptConnections(worker, (received) => {
        input = received;
        return never();
      });
      const source = countingSource();
      const answer = await connectToWorker(window, source.stream, { mode });
      await delay(150);
      const bound = mode === 'port' ? 16 + 1 : 4;
      assert.ok(source.pulls > 0, 'the stream started flowing');
      assert.ok(source.pulls <= bound, `pulled ${source.pulls} times, bound ${bound}`);
      await delay(100);
      const settled = source.pulls;
      await delay(100);
      assert.equal(source.pulls, settled, 'no more pulls while nobody reads');
      await Promise.all([answer.cancel('end of test'), input.cancel('end of test')]);
    });

    test('backpressure worker -> window: a slow window reader bounds the worker source pulls', async () => {
      const { window, worker } = open();
      const source = countingSource();
      acceptConnections(worker, () => source.stream);
      const answer = (await connectToWorker(window, streamOf(), { mode, highWaterMark: 8 })).getReader();
      const bound = mode === 'port' ? 8 + 2 : 4;
      for (let read = 1; read <= 20; read++) {
        const { value } = await answer.read();
        assert.equal(value.data, read, 'in order, nothing lost');
        await delay(5);
        assert.ok(source.pulls <= read + bound, `after ${read} reads the source was pulled ${source.pulls} times`);
      }
      await answer.cancel('done');
    });

    test('cancelling the answer cancels the worker stream, with the reason', async () => {
      const { window, worker } = open();
      const source = countingSource();
      acceptConnections(worker, () => source.stream);
      const answer = await connectToWorker(window, streamOf(), { mode });
      const reader = answer.getReader();
      await reader.read();
      await reader.cancel('user left');
      await until(() => source.cancelled !== undefined, 2000, 'the worker source to be cancelled');
      assert.equal(source.cancelled, 'user left');
    });

    test('the worker cancelling its input cancels the window source', async () => {
      const { window, worker } = open();
      acceptConnections(worker, (input) => {
        const reader = input.getReader();
        return new ReadableStream({
          async pull(c) {
            await reader.read();
            await reader.cancel('enough');
            c.close();
          },
        });
      });
      const source = countingSource();
      const answer = await connectToWorker(window, source.stream, { mode });
      assert.deepEqual(await collect(answer), []);
      await until(() => source.cancelled !== undefined, 2000, 'the window source to be cancelled');
      assert.equal(source.cancelled, 'enough');
    });

    test('a failure of the worker stream reaches the window reader', async () => {
      const { window, worker } = open();
      acceptConnections(worker, () =>
        new ReadableStream({
          pull(c) {
            c.enqueue({ type: 'first' });
            c.error(new TypeError('service failed'));
          },
        }),
      );
      const reader = (await connectToWorker(window, streamOf(), { mode })).getReader();
      const errored = await (async () => {
        try {
          for (;;) if ((await reader.read()).done) return undefined;
        } catch (error) {
          return error;
        }
      })();
      assert.match(String(errored?.message ?? errored), /service failed/);
    });

    test('a failure of the window stream reaches the worker reader', async () => {
      const { window, worker } = open();
      let failure;
      acceptConnections(worker, (input) =>
        new ReadableStream({
          async pull(c) {
            try {
              await collect(input);
            } catch (error) {
              failure = error;
            }
            c.close();
          },
        }),
      );
      const failing = new ReadableStream({ pull: (c) => c.error(new RangeError('window broke')) });
      await collect(await connectToWorker(window, failing, { mode }));
      assert.match(String(failure?.message ?? failure), /window broke/);
    });

    test('a handler that throws fails the connection', async () => {
      const { window, worker } = open();
      acceptConnections(worker, () => {
        throw new Error('no such service');
      });
      const source = countingSource();
      const attempt = connectToWorker(window, source.stream, { mode }).then(collect);
      await assert.rejects(attempt, /no such service/);
    });
  });
}

test('port pump: the receiver grants credit for its queue only, so an unread stream stops the sender', async () => {
  const { port1, port2 } = new MessageChannel();
  const source = countingSource();
  const sending = sendStream(source.stream, port1);
  const received = receiveStream(port2, { highWaterMark: 4 });
  await delay(100);
  assert.equal(source.pulls, 4, 'exactly the credit granted');
  const reader = received.getReader();
  for (let i = 1; i <= 4; i++) assert.equal((await reader.read()).value.data, i);
  await delay(50);
  // Reading half a window or more grants that much credit back.
  assert.ok(source.pulls > 4 && source.pulls <= 8, `pulls ${source.pulls}`);
  await reader.cancel('stop');
  await sending;
  assert.equal(source.cancelled, 'stop');
});

test('keepWorkerAlive posts pings until stopped', async () => {
  const pings = [];
  const stop = keepWorkerAlive({ postMessage: (m) => pings.push(m) }, 10);
  await until(() => pings.length >= 3, 2000, 'three pings');
  stop();
  const count = pings.length;
  assert.deepEqual(pings[0], { eventpaths: 'ping' });
  await delay(30);
  assert.equal(pings.length, count);
});
