// The production-like topology (support/prod-like.mjs: PostgreSQL, two instances of every
// app, each in its own network namespace, reaching each other only by name, a TCP balancer
// in front of the two gateways), driven without a browser: a guest played by Node's http2
// client (support/guest-h2.mjs) and host-to-host links read directly.
//
//   npm run test:prod-like          (as root for namespaces; else the loopback fallback)
//
// What each test proves is in its name; fly/README.md, "Production-like run on one machine",
// says how they map to the issue.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { getText, prodLikeNetwork, readLinkUntil, startProdLike } from './support/prod-like.mjs';
import { GuestConnection } from './support/guest-h2.mjs';

const network = prodLikeNetwork();
const skip = network.mode ? false : `production-like run impossible here: ${network.why}`;
if (skip) console.log(`# SKIP ${skip}`);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits until `cond()` holds, checking every 50 ms, for at most `ms`. */
async function until(cond, ms, what) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

describe('production-like topology', { skip, timeout: 240_000 }, () => {
  /** @type {Awaited<ReturnType<typeof startProdLike>>} */
  let sys;
  let board;
  let n = 0;
  const add = (title) => {
    n++;
    return { type: 'task.add', id: `c-${sys.run}-${n}`, data: { board, task: `t${n}`, title: title ?? `task ${n}` } };
  };

  /** Opens a connection through the balancer; `gateway` is the instance it reached. */
  async function connect() {
    const before = sys.proxy.log.length;
    const conn = await GuestConnection.open(sys.origin, sys.ca);
    await until(() => sys.proxy.log.length > before, 5000, 'the balancer to record the connection');
    return Object.assign(conn, { gateway: sys.proxy.log.at(-1).gateway });
  }

  /** A tasks-write link whose acks are gathered in `acks` (command id → log seq). */
  async function writer(conn, guest, name, acks, rejected = new Map()) {
    const l = await conn.link(guest, 'tasks-write', name);
    if (!l.ok) return l;
    const gather = (e) => {
      if (e.type === 'ack') acks.set(e.id, e.data.seq);
      if (e.type === 'command.rejected') rejected.set(e.id, e.data.reason);
    };
    for (const e of l.down.events) gather(e);
    l.down.onEvent = gather;
    return l;
  }

  /**
   * Opens the writer link again the way the guest runtime does after a fatal end: while the
   * gateway answers with a refusal or a fatal link.error (a duplicate of a half it has not yet
   * seen close, a host link that cannot be opened now), wait and try again, for `ms` at most.
   */
  async function reopen(conn, guest, name, acks, ms = 30_000) {
    const tries = [];
    const deadline = Date.now() + ms;
    for (;;) {
      const w = await writer(conn, guest, name, acks);
      if (w.ok) return Object.assign(w, { tries });
      tries.push(w.status === 200 ? w.event?.data?.reason ?? w.event?.type : `${w.status} ${w.body?.error}`);
      if (Date.now() > deadline) {
        assert.fail(`the guest link ${name} did not come back in ${ms / 1000} s (${tries.length} tries: `
          + `${[...new Set(tries)].map((t) => `${t} x${tries.filter((x) => x === t).length}`).join(', ')}; the gateway's last answer: `
          + `${JSON.stringify(w.event?.data?.message ?? w.body)})`);
      }
      await sleep(300);
    }
  }

  /**
   * Sends `commands` on the link `name` until each is acknowledged, as the guest runtime does:
   * open the pair (retrying refusals), send, and when the download ends before every ack came
   * (a fatal link.error, e.g. the host link was lost), reopen and send the unacknowledged ones
   * again. A download that stays open without acks for `ms` is a failure, reported with what
   * the download carried. Resolves with the open link and the refused tries of its last opening.
   */
  async function deliver(conn, guest, name, commands, acks, { ms = 30_000, resendAcked = false } = {}) {
    const deadline = Date.now() + ms;
    const ends = [];
    for (let first = true; ; first = false) {
      const w = await reopen(conn, guest, name, acks, Math.max(5_000, deadline - Date.now()));
      if (w.tries.length) console.log(`# ${name}: pair opened after ${w.tries.length} refused tries: ${[...new Set(w.tries)].join(', ')}`);
      // The first time, optionally every command again, acknowledged ones too: a retry must be applied once.
      for (const cmd of commands) if ((first && resendAcked) || !acks.has(cmd.id)) w.up.send(cmd);
      let ended = false;
      w.down.ended.then(() => { ended = true; });
      while (!ended && !commands.every((c) => acks.has(c.id)) && Date.now() < deadline) await sleep(50);
      if (commands.every((c) => acks.has(c.id))) return w;
      const seen = w.down.events.map((e) => (e.type === 'link.error' ? `link.error ${e.data?.reason}` : e.type));
      if (!ended || Date.now() >= deadline) {
        // Which gateway the pair reached, and what its upload was answered ('none' while it
        // is still open without an answer): a refused upload would explain commands that
        // never reached a writer while the download stayed open. Read before closing it.
        const upload = await Promise.race([w.up.status, sleep(200).then(() => 'none')]);
        const download = ended ? 'ended' : 'open'; // before closing it here
        w.up.close();
        w.down.close();
        // Where the answer was lost: a command in the log was committed and its ack went
        // missing on the way back; one not in it never reached a writer or never committed.
        const { counts } = await logCounts();
        const missing = commands.filter((c) => !acks.has(c.id)).map((c) => `${c.id} (in the log ${counts.get(c.id) ?? 0}x)`);
        assert.fail(`no acks for ${missing.join(', ')} in ${ms} ms `
          + `(gateway ${conn.gateway ?? '?'}, upload answered ${upload}; download ${download}, carried: ${seen.join(', ')}; `
          + `earlier ends: ${ends.join(' | ') || 'none'}; what the apps count: ${await countsNow()}; logs in ${sys.logDir})`);
      }
      ends.push(seen.filter((t) => t.startsWith('link.error')).join(', ') || 'ended without link.error');
      console.log(`# ${name}: the download ended before the acks (${ends.at(-1)}); reopening`);
      w.up.close();
    }
  }

  /**
   * For a failure message (CI keeps only its output): each gateway's refusals by reason and
   * pairs waiting, each tasks-write instance's server links and commits.
   */
  async function countsNow() {
    const pick = async (/** @type {any} */ inst, /** @type {RegExp} */ wanted) => {
      try {
        const text = (await getText(`${inst.adminUrl}/q/metrics`)).body;
        return text.split('\n').filter((l) => wanted.test(l)).map((l) => l.replace(/^eventpaths_/, '')).join(' ');
      } catch (error) {
        return `(metrics unavailable: ${error})`;
      }
    };
    const parts = [];
    for (const [k, g] of sys.instances('gateway').entries()) {
      parts.push(`gateway ${k}: ${await pick(g, /^eventpaths_gateway_(refusals_total|pairs_waiting|pairings_total)/)}`);
    }
    for (const [k, t] of sys.instances('tasks-write').entries()) {
      parts.push(`tasks-write ${k}: ${await pick(t, /^(eventpaths_links_active\{(?=.*side="server")(?=.*service="tasks-write")|tasks_commits_total|tasks_append_failures_total)/)}`);
    }
    return parts.join('; ');
  }

  /** How many times each id is in the log (of this test's board). */
  async function logCounts() {
    const log = await sys.readLog();
    const counts = new Map();
    for (const e of log) if (e.data?.board === board) counts.set(e.id, (counts.get(e.id) ?? 0) + 1);
    return { log, counts };
  }

  async function assertAppliedOnce(commands, acks) {
    const { log, counts } = await logCounts();
    for (const c of commands) {
      assert.equal(counts.get(c.id), 1, `${c.id} is in the log ${counts.get(c.id) ?? 0} times`);
      const entry = log.find((e) => e.id === c.id);
      assert.equal(entry.seq, acks.get(c.id), `${c.id}: its ack names seq ${acks.get(c.id)}, the log has it at ${entry.seq}`);
    }
  }

  /** The metric value summed over lines matching all `labels`. */
  async function metric(inst, name, labels) {
    const text = (await getText(`${inst.adminUrl}/q/metrics`)).body;
    let sum = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`) || !labels.every((l) => line.includes(l))) continue;
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  }

  before(async () => {
    sys = await startProdLike({});
    board = `pl-${sys.run}`;
    console.log(`# topology up: ${sys.mode}, origin ${sys.origin}, logs in ${sys.logDir}`);
  });

  after(async () => {
    await sys?.stop();
  });

  test('the names resolve to both instances of each app, from inside an instance\'s network', async () => {
    // Each instance sees eventpaths-<app>.internal as both instances' addresses (like Fly's
    // .internal DNS), and nothing else: not localhost, not the other apps' ports there.
    const { readFileSync } = await import('node:fs');
    const hosts = readFileSync(sys.hostsFile, 'utf8');
    for (const name of ['gateway', 'tasks-write', 'tasks-read', 'presence-read']) {
      const lines = hosts.split('\n').filter((l) => l.endsWith(` eventpaths-${name}.internal`));
      assert.deepEqual(lines.map((l) => l.split(' ')[0]).sort(), sys.instances(name).map((i) => i.address).sort());
    }
    if (sys.mode === 'netns') {
      const { spawnSync } = await import('node:child_process');
      const tw = sys.instance('tasks-write', 0);
      const inNs = (args) => spawnSync('ip', ['netns', 'exec', sys.instance('tasks-read', 0).ns, ...args], { encoding: 'utf8' });
      const seen = inNs(['getent', 'ahostsv6', 'eventpaths-tasks-write.internal']).stdout;
      for (const i of sys.instances('tasks-write')) assert.match(seen, new RegExp(`^${i.address} `, 'm'));
      // No path by localhost: tasks-write's port is not open in tasks-read's namespace.
      const local = inNs([process.execPath, '-e',
        `require('net').connect(${tw.ports.http},'127.0.0.1').on('connect',()=>process.exit(0)).on('error',()=>process.exit(3))`]);
      assert.equal(local.status, 3, 'tasks-write must not be reachable on localhost from another instance');
    }
  });

  test('upload on gateway A, download on gateway B: 409 unpaired/reopen; reopened on one instance, nothing lost', async () => {
    const acks = new Map();
    sys.proxy.pin(0);
    const a = await connect();
    assert.equal(a.gateway, 0);
    const guest = await a.newGuest();
    const up = a.upload(guest, 'tasks-write', 'split');
    const c1 = add('written on the upload that found no download');
    up.send(c1);

    sys.proxy.pin(1);
    const b = await connect();
    assert.equal(b.gateway, 1, 'the second connection reached the other gateway');
    const t0 = Date.now();
    const down = await b.download(guest, 'tasks-write', 'split');
    assert.equal(down.status, 409, `download on the other instance: ${down.status} ${JSON.stringify(down.body)}`);
    assert.equal(down.body.error, 'unpaired');
    assert.equal(down.body.action, 'reopen');
    assert.ok(Date.now() - t0 >= 1000, 'refused after the pairing grace, not at once');
    // Nothing of the unpaired upload reached tasks-write.
    assert.equal((await logCounts()).counts.get(c1.id), undefined);

    // The guest does what the refusal says: close the upload, open both halves again on one
    // connection (here a new one, whichever gateway the balancer picks), send again.
    up.close();
    a.close();
    b.close();
    sys.proxy.pin(null);
    const c = await connect();
    const c2 = add();
    const w = await deliver(c, guest, 'split', [c1, c2], acks);
    w.up.close();
    c.close();
    await assertAppliedOnce([c1, c2], acks);
  });

  test('a gateway instance killed mid-session: the guest reconnects to the other one, every command applied once', async () => {
    const acks = new Map();
    sys.proxy.pin(null);
    const conn = await connect();
    const dead = conn.gateway;
    const guest = await conn.newGuest();
    const w = await writer(conn, guest, 'w', acks);
    assert.ok(w.ok, JSON.stringify(w.body ?? w.event));
    w.conn = conn;
    const commands = Array.from({ length: 120 }, () => add());
    try {
      await killGatewayMidSession(dead, commands, w, guest, acks);
    } finally {
      if (!sys.instance('gateway', dead).running) await sys.instance('gateway', dead).start();
    }
  });

  async function killGatewayMidSession(dead, commands, w, guest, acks) {
    const conn = w.conn;
    let killed;
    for (const [k, cmd] of commands.entries()) {
      w.up.send(cmd);
      if (k === 40) {
        await until(() => acks.size >= 10, 10_000, 'some acks before the kill');
        killed = sys.instance('gateway', dead).kill('SIGKILL');
      }
      await sleep(3);
    }
    await killed;
    await Promise.race([conn.closed, sleep(10_000)]);
    assert.ok(!conn.alive, 'the connection to the killed gateway is gone');
    const before = new Map(acks);
    assert.ok(before.size < commands.length, `the kill came mid-session (${before.size} of ${commands.length} acked)`);

    // Reconnect through the same address: the balancer finds the live gateway.
    const again = await connect();
    assert.equal(again.gateway, 1 - dead, 'reconnected to the other gateway instance');
    const w2 = await deliver(again, guest, 'w', commands, acks, { resendAcked: true });
    for (const [id, seq] of before) assert.equal(acks.get(id), seq, `${id}: a retried command gets its first ack again`);
    w2.up.close();
    again.close();
    await assertAppliedOnce(commands, acks);
  }

  test('a tasks-write instance killed mid-command: the link is reopened, retried commands applied once', async () => {
    const acks = new Map();
    const conn = await connect();
    const guest = await conn.newGuest();
    let w = await writer(conn, guest, 'tw', acks);
    assert.ok(w.ok, JSON.stringify(w.body ?? w.event));
    // The instance that serves this guest link.
    const serving = [];
    for (const i of sys.instances('tasks-write')) {
      if (await metric(i, 'eventpaths_links_active', ['side="server"', 'service="tasks-write"'])) serving.push(i);
    }
    assert.ok(serving.length >= 1, 'a tasks-write instance serves the link');
    const victim = serving[0];
    const commands = Array.from({ length: 150 }, () => add());
    try {
      await killMidCommand(victim, commands, w, conn, guest, acks);
    } finally {
      if (!victim.running) await victim.start();
    }
  });

  async function killMidCommand(victim, commands, w, conn, guest, acks) {
    let killed;
    for (const [k, cmd] of commands.entries()) {
      w.up.send(cmd);
      if (k === 50) {
        await until(() => acks.size >= 10, 10_000, 'some acks before the kill');
        killed = victim.kill('SIGKILL');
      }
      await sleep(3);
    }
    await killed;
    // The gateway ends the guest link with a fatal link.error; the guest reopens it.
    await until(() => w.down.events.some((e) => e.type === 'link.error' && e.data?.fatal), 60_000, 'a fatal link.error on the download');
    const reason = w.down.events.find((e) => e.type === 'link.error')?.data?.reason;
    const before = new Map(acks);
    assert.ok(before.size < commands.length, `the kill came mid-command (${before.size} of ${commands.length} acked, link ended with ${reason})`);
    w.up.close();
    w.down.close();

    // While the other tasks-write instance is alive, the link must come back.
    w = await deliver(conn, guest, 'tw', commands, acks, { ms: 60_000, resendAcked: true });
    const tries = w.tries;
    for (const [id, seq] of before) assert.equal(acks.get(id), seq, `${id}: a retried command gets its first ack again`);
    w.up.close();
    conn.close();
    await assertAppliedOnce(commands, acks);
    console.log(`# tasks-write ${victim.index} killed (link ended with ${reason}); reopened after ${tries.length} refused tries`);
  }

  test('both tasks-read instances serve the same board, and it is the board the log says', async () => {
    // A few changes of other kinds, through the gateway, so the board is more than a list.
    const acks = new Map();
    const rejected = new Map();
    const conn = await connect();
    const guest = await conn.newGuest();
    const w = await writer(conn, guest, 'edit', acks, rejected);
    assert.ok(w.ok, JSON.stringify(w.body ?? w.event));
    const adds = Array.from({ length: 6 }, () => add());
    for (const c of adds) w.up.send(c);
    const [t1, t2, t3, t4] = adds.map((c) => c.data.task);
    const edits = [
      { type: 'task.complete', id: `e-${sys.run}-1`, data: { board, task: t1 } },
      { type: 'task.rename', id: `e-${sys.run}-2`, data: { board, task: t2, title: 'renamed' } },
      { type: 'task.move', id: `e-${sys.run}-3`, data: { board, task: t3, before: t1 } },
      { type: 'task.remove', id: `e-${sys.run}-4`, data: { board, task: t4 } },
    ];
    for (const e of edits) w.up.send(e);
    await until(() => [...adds, ...edits].every((e) => acks.has(e.id) || rejected.has(e.id)), 15_000, 'acks of the edits');
    assert.deepEqual([...rejected], [], 'no edit rejected');
    w.up.close();
    conn.close();

    const { log } = await logCounts();
    const head = log.at(-1).seq;
    const expected = project(log, board);
    assert.ok(expected.length >= 5, `the board has tasks (${expected.length})`);
    for (const inst of sys.instances('tasks-read')) {
      let snapshot;
      const deadline = Date.now() + 15_000;
      do {
        const events = await readLinkUntil(inst, `/links/board?board=${board}`, sys.linkSecret,
          (e) => (e.type === 'board.snapshot' || e.type === 'board.snapshot.more') && e.data.complete);
        const parts = events.filter((e) => e.type.startsWith('board.snapshot'));
        snapshot = { seq: parts[0].seq, tasks: parts.flatMap((p) => p.data.tasks) };
        if (snapshot.seq >= head) break;
        await sleep(200);
      } while (Date.now() < deadline);
      assert.ok(snapshot.seq >= head, `tasks-read ${inst.index} reached the log's head (${snapshot.seq} of ${head})`);
      assert.deepEqual(snapshot.tasks.map((t) => ({ task: t.task, title: t.title, done: t.done })), expected,
        `tasks-read ${inst.index}'s board equals the log's`);
    }
  });
});

/** The board as the log says (read-services/tasks-read/README.md, "Board order"). */
function project(log, board) {
  /** @type {{task: string, title: string, done: boolean}[]} */
  const tasks = [];
  const at = (id) => tasks.findIndex((t) => t.task === id);
  const insert = (t, before) => {
    const i = before ? at(before) : -1;
    if (i < 0) tasks.push(t); else tasks.splice(i, 0, t);
  };
  for (const e of log) {
    const d = e.data;
    if (d?.board !== board) continue;
    const i = at(d.task);
    switch (e.type) {
      case 'task.added': if (i < 0) insert({ task: d.task, title: d.title, done: false }, d.before); break;
      case 'task.renamed': if (i >= 0) tasks[i].title = d.title; break;
      case 'task.completed': if (i >= 0) tasks[i].done = true; break;
      case 'task.reopened': if (i >= 0) tasks[i].done = false; break;
      case 'task.removed': if (i >= 0) tasks.splice(i, 1); break;
      case 'task.moved':
        if (i >= 0 && d.before !== d.task) { const [t] = tasks.splice(i, 1); insert(t, d.before); }
        break;
      default:
    }
  }
  return tasks;
}
