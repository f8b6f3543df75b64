// One host link kept open for as long as it is wanted. A GatewayLink reconnects by itself; it
// ends for good only when the host ended its output or refused the link (a fatal link.error
// that says not to reconnect), which a live feed or the command link should never do. When it
// happens anyway, what showed that link's data would otherwise show "Disconnected" for the
// rest of the page's life: so another link opens after a pause.

/**
 * @template {{close(reason?: unknown): Promise<void>}} L
 * @typedef {object} KeepOpenOptions
 * @property {(link: L, error: unknown) => void} [onEnd] told each time a link ended for good
 *   (`error` undefined when its reading came to a normal end), before another is opened;
 *   not after `stop`
 * @property {number} [retryMs] the pause before the next link, default 1000
 * @property {(fn: () => void, ms: number) => unknown} [setTimeout] injectable for tests
 */

/**
 * Opens a link with `open`, hands it to `read` (which reads it to its end), and when that
 * settles opens another after `retryMs`, until `stop` is called. `stop` closes the link open
 * at the time and opens no other.
 *
 * @template {{close(reason?: unknown): Promise<void>}} L
 * @param {() => L} open
 * @param {(link: L) => Promise<void>} read
 * @param {KeepOpenOptions<L>} [options]
 * @returns {(reason?: unknown) => void} stop
 */
export function keepOpen(open, read, { onEnd, retryMs = 1000, setTimeout: later = setTimeout } = {}) {
  let stopped = false;
  /** @type {L | undefined} */
  let link;
  const next = () => {
    if (stopped) return;
    const current = open();
    link = current;
    read(current)
      .then(
        () => undefined,
        (error) => error ?? new Error('the link failed'),
      )
      .then((error) => {
        if (stopped) return;
        link = undefined;
        onEnd?.(current, error);
        later(next, retryMs);
      });
  };
  next();
  return (reason) => {
    if (stopped) return;
    stopped = true;
    void link?.close(reason);
    link = undefined;
  };
}
