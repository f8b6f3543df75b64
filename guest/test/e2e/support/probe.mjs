// Drives test/e2e/pages/echo-probe.html from Playwright.

import assert from 'node:assert/strict';

/**
 * Opens a probe page and waits until its session is open.
 *
 * @param {import('playwright-core').BrowserContext} context
 * @param {string} origin
 * @param {Record<string, string>} query
 */
export async function openProbe(context, origin, query) {
  const page = await context.newPage();
  /** @type {string[]} */
  const problems = [];
  page.on('pageerror', (error) => problems.push(String(error)));
  await page.goto(`${origin}/test/e2e/pages/echo-probe.html?${new URLSearchParams(query)}`);
  await page.waitForFunction(() => /** @type {any} */ (window).probe?.ready, undefined, { timeout: 15_000 });
  await page.evaluate(() => /** @type {any} */ (window).probe.ready);
  return Object.assign(page, { problems });
}

/**
 * @param {import('playwright-core').Page} page
 * @returns {Promise<any>}
 */
export const probeState = (page) => page.evaluate(() => /** @type {any} */ (window).probe.state());

/**
 * @param {import('playwright-core').Page} page
 * @param {number} count
 */
export const send = (page, count) => page.evaluate((n) => /** @type {any} */ (window).probe.send(n), count);

/**
 * Polls the probe's state until `predicate` holds; fails with the last state after `timeoutMs`.
 *
 * @param {import('playwright-core').Page} page
 * @param {(state: any) => boolean} predicate
 * @param {number} timeoutMs
 * @param {string} what
 */
export async function waitForState(page, predicate, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  let state;
  for (;;) {
    state = await probeState(page);
    if (predicate(state)) return state;
    if (Date.now() > deadline) {
      const { statuses, ...brief } = state;
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify({ ...brief, missing: state.missing.slice(0, 10), lastStatus: statuses.at(-1) })}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * The end-to-end promise: every write echoed exactly once, in order, nothing else.
 *
 * @param {any} state
 */
export function assertExactlyOnce(state) {
  assert.deepEqual(state.duplicates, [], 'no event twice');
  assert.deepEqual(state.unexpected, [], 'nothing out of order or unknown');
  assert.deepEqual(state.missing, [], 'nothing lost');
  assert.equal(state.received, state.sent);
}

/**
 * The gateway's Prometheus metrics, as text.
 *
 * @param {string} origin
 * @returns {Promise<string>}
 */
export async function gatewayMetrics(origin) {
  const { default: https } = await import('node:https');
  return new Promise((resolve, reject) => {
    https
      .get(`${origin}/q/metrics`, { rejectUnauthorized: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

/**
 * Sums the samples of metric `name` whose labels include every `must` string.
 *
 * @param {string} text
 * @param {string} name
 * @param {string[]} must e.g. ['side="guest"']
 */
export function metric(text, name, must = []) {
  let n = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) || !must.every((m) => line.includes(m))) continue;
    n += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return n;
}

/**
 * Counts of the gateway's guest requests by route, from its metrics.
 *
 * @param {string} origin
 * @returns {Promise<{up: number, down: number, batch: number}>}
 */
export async function gatewayRequests(origin) {
  const text = await gatewayMetrics(origin);
  const count = (/** @type {string} */ kind) =>
    metric(text, 'http_server_requests_seconds_count', [`uri="/g/{service}/{link}/${kind}"`]);
  return { up: count('up'), down: count('down'), batch: count('batch') };
}
