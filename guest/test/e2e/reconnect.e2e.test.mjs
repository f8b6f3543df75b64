// Links that cannot work, in a real Chromium against the real gateway: a route to a host
// service that nobody listens on (the gateway answers each attempt at once, 200 and then
// connect_failed), and a service guests may not reach (403 forbidden_service). The first
// must back off, counted at the gateway, and say "reconnecting"; the second must end after
// one attempt. Neither may show the gateway's internal address to the page.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, startHostSide } from './support/servers.mjs';
import { launchBrowser } from './support/browser.mjs';
import { gatewayRequests } from './support/probe.mjs';

/** @type {Awaited<ReturnType<typeof startHostSide>>} */
let host;
/** @type {Awaited<ReturnType<typeof launchBrowser>>} */
let browser;
/** a loopback port with nothing on it: the "dead" host service's address */
let deadPort = 0;
before(async () => {
  deadPort = await freePort();
  host = await startHostSide({
    jvm: ['-XX:TieredStopAtLevel=1'],
    gatewayProps: {
      'eventpaths.targets.dead.url': `http://127.0.0.1:${deadPort}`,
      'gateway.routes.dead.target': 'dead',
      // A target of the gateway's that no route offers to guests.
      'eventpaths.targets.hidden.url': `http://127.0.0.1:${deadPort}`,
    },
  });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.dispose();
  await host?.stop();
});

/** @param {string} service */
async function openPage(service) {
  const page = await browser.newPage();
  /** @type {string[]} */
  const problems = [];
  page.on('pageerror', (error) => problems.push(String(error)));
  await page.goto(`${host.origin}/test/e2e/pages/dead-host.html?service=${service}`);
  await page.waitForFunction(() => /** @type {any} */ (window).probe?.ready, undefined, { timeout: 15_000 });
  await page.evaluate(() => /** @type {any} */ (window).probe.ready);
  return Object.assign(page, { problems });
}

/** @param {import('playwright-core').Page} page */
const stateOf = (page) => page.evaluate(() => /** @type {any} */ (window).probe.state());

test('a route to a host service nobody listens on: the link backs off, says reconnecting, shows no internal address', { timeout: 60_000 }, async () => {
  const windowMs = 8_000;
  const start = await gatewayRequests(host.origin);
  const page = await openPage('to-dead');
  await new Promise((resolve) => setTimeout(resolve, windowMs));
  const attempts = (await gatewayRequests(host.origin)).down - start.down;
  const state = await stateOf(page);
  // Delays drawn from [cap/2, cap), the cap doubling from 250 ms: 8 s hold 5 to 7 attempts.
  // Counting the gateway's answer as healthy retried every 125-250 ms: 30 and more.
  assert.ok(attempts >= 3 && attempts <= 10, `${attempts} downloads in ${windowMs} ms`);
  const reasons = new Set(state.errors.map((/** @type {any} */ e) => e.reason));
  assert.deepEqual([...reasons], ['connect_failed'], JSON.stringify(state.errors));
  assert.ok(state.errors.every((/** @type {any} */ e) => e.reconnect === true && e.retryInMs > 0));
  const delays = state.errors.map((/** @type {any} */ e) => e.retryInMs);
  for (let i = 1; i < delays.length; i++) {
    assert.ok(delays[i] >= Math.min(15_000, 250 * 2 ** (i - 1)), `delay ${i} grew: ${delays}`);
  }
  for (const error of state.errors) {
    assert.ok(!String(error.message).includes(String(deadPort)), `no internal address in ${error.message}`);
  }
  const links = state.statuses.map((/** @type {any} */ s) => s.links.host).filter(Boolean);
  assert.ok(!links.includes('open'), `never open: ${links}`);
  assert.equal(links.at(-1), 'reconnecting');
  assert.equal(state.ended, false, 'still trying');
  assert.deepEqual(page.problems, []);
  console.log(`# dead host: ${attempts} downloads at the gateway in ${windowMs} ms; delays ${delays.join(', ')} ms`);
  await page.close();
});

test('a service guests may not reach: one forbidden_service, no retry, and the view\'s input ends', { timeout: 60_000 }, async () => {
  const start = await gatewayRequests(host.origin);
  const page = await openPage('to-hidden');
  await page.waitForFunction(() => /** @type {any} */ (window).probe.state().ended, undefined, { timeout: 10_000 });
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const state = await stateOf(page);
  const attempts = (await gatewayRequests(host.origin)).down - start.down;
  assert.equal(attempts, 1, 'asked once');
  assert.equal(state.errors.length, 1, JSON.stringify(state.errors));
  const [error] = state.errors;
  assert.deepEqual([error.reason, error.fatal, error.reconnect, error.status], ['forbidden_service', true, false, 403]);
  assert.equal(error.message, 'guests may not link to "hidden"; not retrying');
  assert.equal(state.statuses.at(-1).links.host, 'closed');
  assert.deepEqual(page.problems, []);
  await page.close();
});

test('in Chromium too, a bad write is rejected on its own and the next write is taken', { timeout: 30_000 }, async () => {
  const page = await openPage('to-dead');
  const result = await page.evaluate(async () => {
    const { GatewayLink } = await import('/src/index.js');
    const link = new GatewayLink({ baseUrl: location.origin, service: 'dead', link: 'checked' });
    const writer = link.writable.getWriter();
    let rejected;
    try {
      await writer.write({ type: 'bad type!' });
    } catch (error) {
      rejected = { name: error.name, message: error.message, reason: error.reason };
    }
    await writer.write({ type: 'note', id: 'w1' });
    const held = link.unacknowledged;
    await link.close();
    return { rejected, held };
  });
  assert.deepEqual(result.rejected, {
    name: 'TypeError',
    message: 'event not sent: "type" must be 1-128 characters of A-Z a-z 0-9 _ - . (got "bad type!")',
    reason: 'missing_type',
  });
  assert.equal(result.held, 1, 'the good write after it is held for the host');
  await page.close();
});
