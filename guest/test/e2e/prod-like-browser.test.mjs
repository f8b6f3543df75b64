// The task board in Debian's Chromium on the production-like topology (support/prod-like.mjs),
// for what only two instances can show: the browser's connection moved between the two
// gateways mid-session, one gateway killed under it, one tasks-write instance killed under
// it. Every page must end up equal to tasks-write's log, each change applied once.
//
// Chromium puts the window's, the worker's and the service worker's fetches on one HTTP/2
// connection per origin, so a browser's upload and download normally reach one gateway; a
// split happens only when that connection breaks between the two requests of a pair. The
// balancer's dropAll() makes such breaks happen (mid-session, repeatedly); whether one fell
// between the two requests is counted from the gateways' own `unpaired` refusals. The
// deterministic proof of the split (upload on one gateway, download on the other) is in
// prod-like.test.mjs.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { after, before, describe, test } from 'node:test';
import { prodLikeNetwork, startProdLike } from './support/prod-like.mjs';
import { launchBrowser } from './support/browser.mjs';
import { assertBoardsMatchLog, eventually, openBoard, sentCount, startChurn, stopChurn, waitLive } from './support/board.mjs';

const network = prodLikeNetwork();
const skip = network.mode ? false : `production-like run impossible here: ${network.why}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('the task board on two instances of everything', { skip, timeout: 280_000 }, () => {
  /** @type {Awaited<ReturnType<typeof startProdLike>>} */
  let sys;
  /** @type {Awaited<ReturnType<typeof launchBrowser>>} */
  let alice;
  /** @type {Awaited<ReturnType<typeof launchBrowser>>} */
  let bob;

  before(async () => {
    sys = await startProdLike({});
    // After the topology: eight JVMs starting take both cores.
    alice = await launchBrowser();
    bob = await launchBrowser();
  });
  after(async () => {
    await Promise.all([alice?.dispose(), bob?.dispose()]);
    await sys?.stop();
  });

  /** A gateway's counter, summed over its tags (its /q/metrics over HTTPS, through no balancer). */
  function gatewayMetric(i, name, tag) {
    const g = sys.instance('gateway', i);
    return new Promise((resolve) => {
      const req = https.get({
        host: g.address, port: g.ports.ssl, path: '/q/metrics', ca: readFileSync(sys.ca), servername: 'localhost',
        headers: { host: `localhost:${g.ports.ssl}` }, timeout: 3000,
      }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => { text += d; });
        res.on('end', () => {
          let sum = 0;
          for (const line of text.split('\n')) {
            if (line.startsWith(`${name}{`) && (!tag || line.includes(tag))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
          }
          resolve(sum);
        });
      });
      req.on('error', () => resolve(NaN));
      req.on('timeout', () => req.destroy());
    });
  }

  /** Waits until the page has sent `n` more changes than now (so changes go on). */
  async function changesGoOn(page, n, ms, what) {
    const from = await sentCount(page);
    await eventually(async () => (await sentCount(page)) >= from + n, ms, what);
  }

  test('the connection moved between the gateways mid-session, again and again: every page equals the log', async () => {
    const board = `moves-${sys.run}`;
    sys.proxy.pin(0);
    const a = await openBoard(alice, sys.origin, board);
    const b = await openBoard(bob, sys.origin, board);
    assert.deepEqual([...new Set(sys.proxy.open())], [0], 'both browsers on gateway 0');
    const unpairedBefore = (await gatewayMetric(0, 'eventpaths_gateway_refusals_total', 'unpaired'))
      + (await gatewayMetric(1, 'eventpaths_gateway_refusals_total', 'unpaired'));
    await startChurn(a, 40);
    await startChurn(b, 70);
    // Pinned moves: every connection cut, the browsers come back on the other gateway.
    for (const to of [1, 0, 1]) {
      sys.proxy.pin(to);
      sys.proxy.dropAll();
      await waitLive(a, 30_000);
      await waitLive(b, 30_000);
      await changesGoOn(a, 10, 15_000, `changes after the move to gateway ${to}`);
      assert.deepEqual([...new Set(sys.proxy.open())], [to], `every browser connection is on gateway ${to}`);
    }
    // Unpinned: cuts in quick succession while the browsers reconnect, round robin, so a
    // reconnecting browser's requests are cut between its two halves of a link.
    sys.proxy.pin(null);
    for (let k = 0; k < 6; k++) {
      sys.proxy.dropAll();
      await sleep(150 + 100 * k);
    }
    await waitLive(a, 30_000);
    await waitLive(b, 30_000);
    await changesGoOn(a, 10, 15_000, 'changes after the cuts');
    const sent = (await stopChurn(a)) + (await stopChurn(b));
    const { log } = await assertBoardsMatchLog(sys, [a, b], board, { timeoutMs: 45_000, allowRejected: true });
    const unpaired = (await gatewayMetric(0, 'eventpaths_gateway_refusals_total', 'unpaired'))
      + (await gatewayMetric(1, 'eventpaths_gateway_refusals_total', 'unpaired')) - unpairedBefore;
    console.log(`# ${sent} changes through 3 moves and 6 cuts, ${log.filter((e) => e.data.board === board).length} in the log; `
      + `connections per gateway ${JSON.stringify(sys.proxy.counts)}; split pairs refused as unpaired: ${unpaired}`);
    await Promise.all([a.close(), b.close()]);
  });

  test('one gateway instance killed mid-session: the browsers go on through the other, every change once', async () => {
    const board = `gwkill-${sys.run}`;
    sys.proxy.pin(0);
    const a = await openBoard(alice, sys.origin, board);
    const b = await openBoard(bob, sys.origin, board);
    sys.proxy.pin(null);
    await startChurn(a, 40);
    await changesGoOn(a, 10, 15_000, 'changes before the kill');
    const g0 = sys.instance('gateway', 0);
    try {
      await g0.kill('SIGKILL');
      await waitLive(a, 45_000);
      await waitLive(b, 45_000);
      await changesGoOn(a, 20, 20_000, 'changes through the other gateway');
      assert.deepEqual([...new Set(sys.proxy.open())], [1], 'every browser connection is on the live gateway');
    } finally {
      if (!g0.running) await g0.start();
    }
    await stopChurn(a);
    await assertBoardsMatchLog(sys, [a, b], board, { timeoutMs: 45_000, allowRejected: true });
    await Promise.all([a.close(), b.close()]);
  });

  test('one tasks-write instance killed mid-command: changes go on through the other, every change once', async () => {
    const board = `twkill-${sys.run}`;
    const a = await openBoard(alice, sys.origin, board);
    const b = await openBoard(bob, sys.origin, board);
    await startChurn(a, 40);
    await changesGoOn(a, 10, 15_000, 'changes before the kill');
    // The instance serving the gateways' links for guests (by its own link meter).
    const serving = [];
    for (const i of sys.instances('tasks-write')) {
      const text = await fetch(`${i.url}/q/metrics`).then((r) => r.text());
      if (/^eventpaths_links_active\{[^}]*service="tasks-write"[^}]*side="server"[^}]*\} [1-9]/m.test(text)
        || /^eventpaths_links_active\{[^}]*side="server"[^}]*service="tasks-write"[^}]*\} [1-9]/m.test(text)) serving.push(i);
    }
    const victim = serving[0] ?? sys.instance('tasks-write', 0);
    try {
      await victim.kill('SIGKILL');
      await changesGoOn(a, 20, 15_000, 'changes made while one tasks-write is down');
      await stopChurn(a);
      // While it is still down, the other instance must take them all: the outbox empties.
      await eventually(async () => {
        const st = await a.evaluate(() => /** @type {any} */ (window).__board.status());
        return st.shown === 'open' && st.pending === 0;
      }, 30_000, `the page's changes taken by the other tasks-write instance while ${victim.index} is down`);
    } finally {
      if (!victim.running) await victim.start();
    }
    await assertBoardsMatchLog(sys, [a, b], board, { timeoutMs: 45_000, allowRejected: true });
    await Promise.all([a.close(), b.close()]);
  });
});
