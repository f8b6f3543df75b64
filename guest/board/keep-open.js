// One host link kept open for as long as it is wanted. A GatewayLink reconnects by itself; it
// ends for good only when the host ended its output or refused the link (a fatal link.error
// that says not to reconnect), which a live feed or the command link should never do. When it
// happens anyway, what showed that link's data would otherwise show "Disconnected" for the
// rest of the page's life: so another link opens after a pause, which grows while links keep
// ending without serving anything; a refusal that reopening cannot fix ends it for good.

import { Backoff } from '../src/index.js';

/**
 * What reading one link came to: `served` if it brought the app any data (the next pause
 * starts from the first again), `terminal` if it ended on a refusal that reopening cannot fix
 * (a `link.error` with `reconnect: false`): then no other link is opened.
 *
 * @typedef {{served?: boolean, terminal?: boolean} | undefined | void} ReadOutcome
 */

/**
 * @template {{close(reason?: unknown): Promise<void>}} L
 * @typedef {object} KeepOpenOptions
 * @property {(link: L, error: unknown) => void} [onEnd] told each time a link ended for good
 *   (`error` undefined when its reading came to a normal end), before another is opened;
 *   not after `stop`
 * @property {number} [retryMs] the first pause before the next link, default 1000; it grows
 *   (doubling, jittered, see src/backoff.js) while links end without serving anything
 * @property {number} [maxRetryMs] the longest pause, default 30 s
 * @property {() => number} [random] the jitter's randomness, in [0, 1)
 * @property {(fn: () => void, ms: number) => unknown} [setTimeout] injectable for tests
 */

/**
 * Opens a link with `open`, hands it to `read` (which reads it to its end), and when that
 * settles opens another after a pause, until `stop` is called or a link ends terminally.
 * `stop` closes the link open at the time and opens no other.
 *
 * @template {{close(reason?: unknown): Promise<void>}} L
 * @param {() => L} open
 * @param {(link: L) => Promise<ReadOutcome>} read
 * @param {KeepOpenOptions<L>} [options]
 * @returns {(reason?: unknown) => void} stop
 */
export function keepOpen(open, read, { onEnd, retryMs = 1000, maxRetryMs = 30_000, random, setTimeout: later = setTimeout } = {}) {
  const backoff = new Backoff({ initialMs: retryMs, maxMs: Math.max(retryMs, maxRetryMs), random });
  let stopped = false;
  /** @type {L | undefined} */
  let link;
  const next = () => {
    if (stopped) return;
    const current = open();
    link = current;
    read(current)
      .then(
        (outcome) => ({ outcome: outcome ?? undefined, error: undefined }),
        (error) => ({ outcome: undefined, error: error ?? new Error('the link failed') }),
      )
      .then(({ outcome, error }) => {
        if (stopped) return;
        link = undefined;
        onEnd?.(current, error);
        if (outcome?.terminal) {
          stopped = true;
          return;
        }
        if (outcome?.served) backoff.reset();
        later(next, backoff.next());
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
