// The whole system for the board's browser tests, started the way the README starts it:
// `bash .ci/start` (with SKIP_BUILD=1: the jars are built beforehand), which starts
// tasks-write, tasks-read, presence-read, echo and the gateway, each its own java process.
// `.ci/start` writes `run.json` in its data folder (each service's pid, port, readiness URL,
// working directory, log and command line); this harness reads it to kill single services
// and to start them again with exactly the command line `.ci/start` used. Ports are chosen
// free here (port 0) and handed to `.ci/start`, which takes the next free one if that is
// taken meanwhile.
//
// startSystem returns the shape the production-like harness (prod-like.mjs) returns too, so
// the same tests run on both: EVENTPATHS_TOPOLOGY=prod-like selects that one.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, logTail, repoRoot } from './servers.mjs';

/**
 * @typedef {object} Instance one process of one service
 * @property {string} name 'gateway' | 'tasks-write' | 'tasks-read' | 'presence-read'
 * @property {(signal?: NodeJS.Signals) => Promise<void>} kill resolves once it has exited
 * @property {() => Promise<void>} start the same command line again; resolves once ready
 * @property {boolean} running
 */

/**
 * @typedef {object} System
 * @property {string} origin the gateway's https origin
 * @property {string} ca the development CA's certificate file
 * @property {(name: string) => Instance[]} instances
 * @property {(name: string, i?: number) => Instance} instance
 * @property {() => Promise<any[]>} readLog the whole tasks-write log (changes with seq), read over a real h2c link
 * @property {() => Promise<void>} stop
 * @property {() => Promise<void>} restart the whole system, same data (and same ports: the browser's origin stays)
 */

const JARS = ['write-services/tasks-write', 'read-services/tasks-read', 'read-services/presence-read', 'gateway'];

/** Processes started here: killed if this Node process ends first. */
const owned = new Set();
process.once('exit', () => {
  for (const pid of owned) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

const sleep = (/** @type {number} */ ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @param {number} pid */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * @param {string} url
 * @param {string} ca
 * @returns {Promise<number>} the status, 0 on any failure
 */
function status(url, ca) {
  return new Promise((resolve) => {
    const lib = url.startsWith('https:') ? https : http;
    const req = lib.get(url, { ca: readFileSync(ca), timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', (e) => { if (process.env.DEBUG_SYSTEM) console.error(url, e.message); resolve(0); });
    req.on('timeout', () => req.destroy());
  });
}

/**
 * @param {{dataDir?: string, logDir?: string}} [options] `dataDir`: the system's data (the
 *   task log, secrets, run.json); a fresh temporary folder by default
 * @returns {Promise<System>}
 */
export async function startSystem({ dataDir, logDir } = {}) {
  if (process.env.EVENTPATHS_TOPOLOGY === 'prod-like') {
    const { startProdLike } = await import('./prod-like.mjs');
    return /** @type {any} */ (startProdLike({ dataDir, logDir }));
  }
  for (const dir of JARS) {
    const jar = join(repoRoot, dir, 'target/quarkus-app/quarkus-run.jar');
    if (!existsSync(jar)) throw new Error(`${jar} is missing: build first (./mvnw -o -q -B package -DskipTests)`);
  }
  const data = dataDir ?? mkdtempSync(join(tmpdir(), 'eventpaths-system-'));
  const logs = logDir ?? join(data, 'logs');
  mkdirSync(logs, { recursive: true });
  const ca = join(repoRoot, '.certs/ca.crt');
  const ports = {
    TASKS_WRITE_PORT: await freePort(),
    TASKS_READ_PORT: await freePort(),
    PRESENCE_READ_PORT: await freePort(),
    ECHO_PORT: await freePort(),
    GATEWAY_PORT: await freePort(),
    GATEWAY_HTTP_PORT: await freePort(),
  };
  const secrets = () => ({
    EVENTPATHS_LINK_SECRET: readFileSync(join(data, 'link-secret'), 'utf8').trim(),
    GATEWAY_GUEST_KEY: readFileSync(join(data, 'guest-key'), 'utf8').trim(),
  });

  /** @type {import('node:child_process').ChildProcess | undefined} */
  let script;
  /** @type {Map<string, ManagedInstance>} */
  const byName = new Map();
  let origin = '';

  class ManagedInstance {
    /** @param {any} entry a line of run.json */
    constructor(entry) {
      this.name = /** @type {string} */ (entry.name);
      this.entry = entry;
      /** @type {number | undefined} */
      this.pid = entry.pid;
      /** @type {import('node:child_process').ChildProcess | undefined} started by this harness */
      this.child = undefined;
    }

    get running() {
      return this.pid !== undefined && alive(this.pid);
    }

    get readyUrl() {
      if (this.name !== 'gateway') return /** @type {string} */ (this.entry.ready);
      return `${origin}/q/health/ready`;
    }

    /** @param {NodeJS.Signals} [signal] */
    async kill(signal = 'SIGKILL') {
      const pid = this.pid;
      if (pid === undefined) return;
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
      const deadline = Date.now() + 15_000;
      while (alive(pid)) {
        if (Date.now() > deadline) process.kill(pid, 'SIGKILL');
        await sleep(50);
      }
      owned.delete(pid);
      this.pid = undefined;
    }

    async start() {
      if (this.running) throw new Error(`${this.name} is running`);
      const [cmd, ...args] = this.entry.command;
      const log = openSync(this.entry.log, 'a');
      const child = spawn(cmd, args, { cwd: this.entry.cwd, env: { ...process.env, ...secrets() }, stdio: ['ignore', log, log] });
      this.child = child;
      this.pid = child.pid;
      owned.add(/** @type {number} */ (child.pid));
      let exited = false;
      child.once('exit', () => (exited = true));
      // Generous: on a loaded 2-core machine a JVM has been seen to take a minute to start.
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline) {
        if (exited) throw new Error(`${this.name} exited while starting; see ${this.entry.log}${logTail(this.entry.log)}`);
        if ((await status(this.readyUrl, ca)) === 200) return;
        await sleep(100);
      }
      throw new Error(`${this.name} was not ready in 120 s; see ${this.entry.log}${logTail(this.entry.log)}`);
    }
  }

  async function launch() {
    const out = openSync(join(logs, 'ci-start.log'), 'a');
    const child = spawn('bash', [join(repoRoot, '.ci/start')], {
      cwd: repoRoot,
      env: { ...process.env, SKIP_BUILD: '1', EVENTPATHS_DATA: data, EVENTPATHS_LOGS: logs, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])) },
      stdio: ['ignore', 'pipe', out],
    });
    script = child;
    owned.add(/** @type {number} */ (child.pid));
    let text = '';
    await new Promise((resolve, reject) => {
      child.stdout?.on('data', (chunk) => {
        text += chunk;
        if (text.includes('eventpaths is running')) resolve(undefined);
      });
      child.once('exit', (code) => reject(new Error(`.ci/start exited (${code}) before the system was up:\n${text}\nsee ${logs}`)));
    });
    const entries = readFileSync(join(data, 'run.json'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const gateway = entries.find((e) => e.name === 'gateway');
    const ssl = /** @type {string} */ (gateway.command.find((/** @type {string} */ a) => a.startsWith('-Dquarkus.http.ssl-port='))).split('=')[1];
    const next = `https://localhost:${ssl}`;
    if (origin && origin !== next) throw new Error(`the gateway came back on another origin (${next}, was ${origin})`);
    origin = next;
    byName.clear();
    for (const e of entries) {
      owned.add(e.pid);
      byName.set(e.name, new ManagedInstance(e));
    }
    // .ci/start waits for the gateway's plain port (which only redirects); wait for TLS too.
    const deadline = Date.now() + 30_000;
    while ((await status(`${origin}/q/health/ready`, ca)) !== 200) {
      if (Date.now() > deadline) throw new Error(`the gateway is not ready at ${origin}`);
      await sleep(100);
    }
  }

  async function stop() {
    const child = script;
    script = undefined;
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM'); // its trap stops what it started
      await exited;
    }
    // What this harness started again, and anything the script did not stop.
    await Promise.all([...byName.values()].map((i) => i.kill('SIGTERM')));
  }

  async function readLog() {
    const port = byName.get('tasks-write')?.entry.port;
    return readWholeLog(`http://127.0.0.1:${port}`, secrets().EVENTPATHS_LINK_SECRET);
  }

  await launch();
  return {
    get origin() {
      return origin;
    },
    ca,
    dataDir: data,
    instances: (name) => {
      const i = byName.get(name);
      return i ? [i] : [];
    },
    instance: (name, i = 0) => {
      const found = i === 0 ? byName.get(name) : undefined;
      if (!found) throw new Error(`no instance ${name}[${i}]`);
      return found;
    },
    readLog,
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
  };
}

/**
 * tasks-write's whole log over a real host-to-host link: an h2c request with prior
 * knowledge, `POST /links/log?after=0` with the link secret, read until `log.live`.
 *
 * @param {string} base e.g. http://127.0.0.1:8111
 * @param {string} secret
 * @param {number} [timeoutMs]
 * @returns {Promise<any[]>} the changes (events with a seq), in log order
 */
export function readWholeLog(base, secret, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(base);
    session.on('error', reject);
    const req = session.request({
      ':method': 'POST',
      ':path': '/links/log?after=0',
      authorization: `Bearer ${secret}`,
      'content-type': 'application/x-ndjson',
      'eventpaths-caller': 'e2e-test',
    });
    /** @type {any[]} */
    const events = [];
    let rest = '';
    const timer = setTimeout(() => finish(new Error(`no log.live within ${timeoutMs} ms (${events.length} changes read)`)), timeoutMs);
    /** @param {Error} [error] */
    const finish = (error) => {
      clearTimeout(timer);
      req.close();
      session.close();
      if (error) reject(error);
      else resolve(events);
    };
    req.on('response', (headers) => {
      if (headers[':status'] !== 200) finish(new Error(`log link refused: ${headers[':status']}`));
    });
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      rest += chunk;
      let nl;
      while ((nl = rest.indexOf('\n')) !== -1) {
        const line = rest.slice(0, nl).trim();
        rest = rest.slice(nl + 1);
        if (!line) continue;
        const event = JSON.parse(line);
        if (event.type === 'log.live') return finish();
        if (event.type === 'link.error') return finish(new Error(`log link: ${line}`));
        if (typeof event.seq === 'number') events.push(event);
      }
    });
    req.on('error', (e) => finish(e));
    req.on('end', () => finish(new Error('log link ended before log.live')));
  });
}
