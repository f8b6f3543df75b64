// How a stream that is pulled by another thread (fetch's upload, a transferred stream) is fed
// in chunks worth their fixed cost.
//
// Such a consumer asks for the next chunk as soon as it has taken one, within the same task.
// An app that writes in a loop (`await writer.write(e)` per event) resolves each write in a
// microtask, so without pacing every event left as its own chunk: measured in Chromium
// (bench/, window -> gateway, 80,000 pipelined events), 79,746 upload chunks, and handing a
// chunk to fetch was the page's largest cost (a third of its thread; each chunk is also a
// TLS record and an HTTP/2 frame for the gateway to open). Across the window <-> worker
// bridge the same rhythm made every array one event long.
//
// So the first chunk of a task leaves at once (a lone event is not delayed: the latency of
// one event at a time is unchanged), and the next waits until the task that sent it is over,
// taking everything written meanwhile. What is held back is only what the app wrote in the
// same task, and it stays within the stream's own bounds (its outbox, maxPending).

/** @type {(callback: () => void) => void} */
const postTask = (() => {
  const s = /** @type {{postTask?: (cb: () => void, o: {priority: string}) => Promise<unknown>}} */ (
    /** @type {any} */ (globalThis).scheduler
  );
  const post = s?.postTask?.bind(s);
  if (post) {
    // user-blocking: before rendering and timers, as soon as the current task is done.
    return (callback) => void post(callback, { priority: 'user-blocking' }).catch(() => {});
  }
  // Without postTask (Safari, older browsers, Node): a message to ourselves is a task too, and
  // unlike setTimeout(0) it is not clamped to 4 ms once timers nest (every paced chunk would
  // schedule the next from inside the last: nested by the fifth).
  if (typeof MessageChannel === 'function') {
    const channel = new MessageChannel();
    // Node: a port with a listener keeps the process alive. This one may only while a
    // message is on its way (as a pending timer would), never when idle.
    const port = /** @type {MessagePort & {ref?: () => void, unref?: () => void}} */ (channel.port1);
    /** @type {(() => void)[]} */
    let queued = [];
    port.onmessage = () => {
      port.unref?.();
      const run = queued;
      queued = [];
      for (const callback of run) callback();
    };
    port.unref?.();
    return (callback) => {
      queued.push(callback);
      if (queued.length > 1) return;
      port.ref?.();
      channel.port2.postMessage(null);
    };
  }
  return (callback) => void setTimeout(callback, 0);
})();

/** @type {Promise<void> | undefined} */
let nextTask;

/**
 * Settles in a later task than the one running now, once its microtasks are all done. One
 * scheduled task serves every caller of the same task.
 *
 * @returns {Promise<void>}
 */
export function afterThisTask() {
  nextTask ??= new Promise((resolve) =>
    postTask(() => {
      nextTask = undefined;
      resolve();
    }),
  );
  return nextTask;
}

/**
 * One gate per paced stream: `await gate.ready()` before taking what is ready to send, and
 * `gate.sent()` after handing a chunk on.
 *
 * @returns {{ready: () => Promise<void> | undefined, sent: () => void}}
 */
export function chunkGate() {
  let sentThisTask = false;
  return {
    // Returns nothing (no await needed) when no chunk left in this task yet.
    ready: () => (sentThisTask ? afterThisTask() : undefined),
    sent() {
      if (sentThisTask) return;
      sentThisTask = true;
      void afterThisTask().then(() => {
        sentThisTask = false;
      });
    },
  };
}
