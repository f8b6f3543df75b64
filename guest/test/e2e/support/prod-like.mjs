// The production-like topology on one machine (fly/README.md, "Production-like run on one
// machine"): what Fly.io runs, with the packaged apps started the way the image starts them.
//
//   - a real PostgreSQL server (Debian's, .ci/pg-start.sh) in place of Fly Managed Postgres;
//   - two instances of every host service (tasks-write, tasks-read, presence-read) and of the
//     gateway, each `fly/start.sh` (the image's command: checks the secrets, writes the
//     gateway's certificate, execs `java $JAVA_OPTS -jar quarkus-run.jar`) with the Dockerfile's
//     environment and its app's fly.toml [env], prod profile, fresh secrets per run;
//   - where `ip netns` works (root): every instance, and PostgreSQL, in a network namespace of
//     its own on one bridge (.ci/prod-like-net.sh), IPv6 only like Fly's 6PN, with a hosts file
//     in which `eventpaths-<app>.internal` names the addresses of all of the app's instances.
//     Services reach each other only by those names: there is no localhost between them.
//     Otherwise (not root, no namespaces) the fallback: each instance on a loopback address of
//     its own (127.x.y.z) and the names in a hosts file given to the JVMs with
//     -Djdk.net.hosts.file (weaker: localhost still reaches everything);
//   - in front of the gateways, "one address": a TCP proxy in this process (like Fly's proxy
//     with TLS passthrough) balancing per connection, round robin over the gateways that
//     accept a connection, with `pin(i)` to send new connections to gateway i only and
//     `dropAll()` to cut every connection it carries.
//
// The shape it returns is the local harness's (support/system.mjs), which calls this when
// EVENTPATHS_TOPOLOGY=prod-like.

import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import { devCert, guestDir, logTail, repoRoot } from './servers.mjs';

const NET_SH = join(repoRoot, '.ci/prod-like-net.sh');
const STATE_DIR = process.env.EVENTPATHS_PROD_LIKE_STATE ?? '/run/eventpaths-prod-like';

/** The apps, in the order Fly's deploy workflow deploys them. */
const APPS = [
  { name: 'tasks-write', module: 'write-services/tasks-write', tier: 0 },
  { name: 'presence-read', module: 'read-services/presence-read', tier: 0 },
  { name: 'tasks-read', module: 'read-services/tasks-read', tier: 1 },
  { name: 'gateway', module: 'gateway', tier: 1 },
];
const INSTANCES_PER_APP = 2;
const DB_NAME = 'eventpaths-postgres.internal';

/** The [env] table of a fly.toml (flat `KEY = "value"` lines: all these files use). */
function flyEnv(app) {
  const text = readFileSync(join(repoRoot, 'fly', app, 'fly.toml'), 'utf8');
  const appName = /^app\s*=\s*"([^"]+)"/m.exec(text)?.[1];
  const env = {};
  let inEnv = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('[')) { inEnv = line === '[env]'; continue; }
    if (!inEnv || !line || line.startsWith('#')) continue;
    const m = /^([A-Z0-9_]+)\s*=\s*"([^"]*)"/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  return { appName, env };
}

/** A port free on every address now (bound on the wildcard, then released). */
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, () => {
      const { port } = /** @type {net.AddressInfo} */ (s.address());
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const hostPort = (addr, port) => (addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`);

/**
 * GET over HTTP or HTTPS (the development certificate is not checked), bounded: resolves with
 * the status and the body as text; rejects on any failure.
 *
 * @param {string} url
 * @returns {Promise<{status: number, body: string}>}
 */
export function getText(url, timeoutMs = 3000) {
  return new Promise((resolve, reject) => {
    const lib = url.startsWith('https:') ? https : http;
    const req = lib.get(url, { timeout: timeoutMs, rejectUnauthorized: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} in ${timeoutMs} ms`)));
  });
}

/** GET → status (0 on any failure), bounded. */
const status = (url) => getText(url, 2000).then((r) => r.status, () => 0);

/** Which network this machine allows: namespaces (root), else loopback aliases, else none. */
export function prodLikeNetwork() {
  const want = process.env.EVENTPATHS_PROD_LIKE_NET;
  if (want !== 'loopback' && process.getuid?.() === 0 && spawnSync('ip', ['-V']).status === 0
    && spawnSync('bash', [NET_SH, 'probe']).status === 0) return { mode: 'netns' };
  if (want === 'netns') return { mode: null, why: 'EVENTPATHS_PROD_LIKE_NET=netns but `ip netns add` does not work here (root and iproute2 needed)' };
  // 127.0.0.0/8 is all loopback on Linux: a bind to 127.x.y.z shows whether aliases work.
  const probe = spawnSync(process.execPath, ['-e',
    'require("net").createServer().listen(0,"127.31.7.9",function(){this.close()}).on("error",()=>process.exit(1))']);
  if (probe.status === 0) return { mode: 'loopback' };
  return { mode: null, why: 'neither network namespaces (ip netns, as root) nor loopback aliases (127.x.y.z) work here' };
}

/**
 * One instance of an app: a process that can be killed and started again, at the same
 * address and ports.
 */
class Instance {
  constructor(topo, app, index) {
    this.topo = topo;
    this.app = app;
    this.name = app.name;
    this.index = index;
    this.ns = `ep-${topo.run}-${app.name}-${index + 1}`;
    this.address = topo.addressOf(this);
    /** @type {import('node:child_process').ChildProcess | undefined} */
    this.child = undefined;
    this.starts = 0;
    this.dir = join(topo.dataDir, `${app.name}-${index + 1}`);
    this.logFile = join(topo.logDir, `${app.name}-${index + 1}.log`);
  }

  get running() {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  get ports() {
    return this.topo.ports[this.name];
  }

  /** What an app sees on Fly: the image's ENV, the fly.toml [env], its secrets; ports and paths local. */
  env() {
    const t = this.topo;
    const { env: fly } = t.fly[this.name];
    const appHome = join(repoRoot, this.app.module, 'target/quarkus-app');
    const work = join(this.dir, 'work');
    const tmp = join(this.dir, 'tmp');
    mkdirSync(work, { recursive: true });
    mkdirSync(tmp, { recursive: true });
    const props = { ...(t.props[this.name] ?? {}) };
    if (this.name === 'gateway') props['gateway.guest-dir'] = guestDir;
    const javaOpts = [
      // Sized for a shared 2-core machine running eight JVMs, not for a Fly Machine.
      '-Xmx192m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-XX:+ExitOnOutOfMemoryError',
      ...(t.mode === 'loopback' ? [`-Djdk.net.hosts.file=${t.hostsFile}`] : []),
      ...t.jvm,
      ...Object.entries(props).map(([k, v]) => `-D${k}=${v}`),
    ];
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: this.dir,
      // The Dockerfile's ENV.
      APP_HOME: appHome,
      QUARKUS_HTTP_HOST: '::',
      LANG: 'C.UTF-8',
      // The app's fly.toml [env].
      ...fly,
      JAVA_OPTS: javaOpts.join(' '),
    };
    if (process.env.JAVA_HOME) env.JAVA_HOME = process.env.JAVA_HOME;
    for (const [k, v] of Object.entries(fly)) {
      // http://eventpaths-<app>.internal:<port>: same name, this run's port for that app.
      const m = /^EVENTPATHS_TARGETS_.+_URL$/.test(k) && /^http:\/\/(eventpaths-([a-z-]+)\.internal):\d+$/.exec(v);
      if (m) env[k] = `http://${m[1]}:${t.ports[m[2]].http}`;
      if (v.startsWith('/tmp/')) env[k] = join(tmp, v.slice('/tmp/'.length));
    }
    for (const s of String(fly.REQUIRED_SECRETS ?? '').split(/\s+/).filter(Boolean)) env[s] = t.secrets[s];
    env.QUARKUS_HTTP_PORT = String(this.ports.http);
    env.QUARKUS_HTTP_SSL_PORT = String(this.ports.ssl);
    env.QUARKUS_MANAGEMENT_PORT = String(this.ports.mgmt);
    if (t.mode === 'loopback') {
      env.QUARKUS_HTTP_HOST = this.address;
      env.QUARKUS_MANAGEMENT_HOST = this.address;
    }
    return { env, cwd: work };
  }

  async start(timeoutMs = 120_000) {
    if (this.running) throw new Error(`${this.ns} is running`);
    this.starts++;
    const { env, cwd } = this.env();
    const startSh = join(repoRoot, 'fly/start.sh');
    const argv = this.topo.mode === 'netns' ? ['ip', 'netns', 'exec', this.ns, 'sh', startSh] : ['sh', startSh];
    const fd = openSync(this.logFile, 'a');
    writeFileSync(fd, `\n===== ${new Date().toISOString()} start #${this.starts}: ${argv.join(' ')}\n`);
    // `ip netns exec` and start.sh both exec: the child's pid is the JVM's.
    const child = spawn(argv[0], argv.slice(1), { cwd, env, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    // Not holding the event loop: a topology nobody waits for any more (a test's `before`
    // failed elsewhere) must not keep the process alive; the exit handler then removes it.
    child.unref();
    this.child = child;
    this.topo.pids.add(child.pid);
    child.once('exit', () => this.topo.pids.delete(child.pid));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) throw new Error(`${this.ns} exited while starting (${child.exitCode ?? child.signalCode}); see ${this.logFile}${logTail(this.logFile)}`);
      if (await this.ready()) return this;
      await sleep(250);
    }
    await this.kill('SIGKILL');
    throw new Error(`${this.ns} was not ready within ${timeoutMs} ms; see ${this.logFile}${logTail(this.logFile)}`);
  }

  ready() {
    return status(`${this.adminUrl}/q/health/ready`).then((s) => s === 200);
  }

  /**
   * Where its /q/ endpoints (health, metrics) answer: the gateway's plain port only redirects
   * (and the local jar has no management interface), so for it HTTPS; the others' plain port.
   */
  get adminUrl() {
    return this.name === 'gateway' ? `https://${hostPort(this.address, this.ports.ssl)}` : this.url;
  }

  /**
   * Stops it: SIGKILL (default) is a crash, nothing drained; SIGTERM an orderly stop (links
   * end with shutting_down), SIGKILL after 15 s. Resolves once it has exited.
   */
  async kill(signal = 'SIGKILL') {
    const child = this.child;
    if (!child || !this.running) { this.child = undefined; return; }
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    if (this.child === child) this.child = undefined;
  }

  /** The link-server origin of a host service instance (h2c, prior knowledge). */
  get url() {
    return `http://${hostPort(this.address, this.ports.http)}`;
  }

  /**
   * The :authority a peer sends it: the app's name, as a Java peer that dialled the name
   * does. (Node's http2 client would send an IPv6 address without brackets, `fd00::10:8111`,
   * which the apps' HTTP/2 server rightly resets with PROTOCOL_ERROR.)
   */
  get authority() {
    return `${this.topo.fly[this.name].appName}.internal:${this.ports.http}`;
  }
}

/**
 * The TCP balancer in front of the gateways: one loopback address for the browser, each
 * new connection to the next gateway (round robin), skipping one that refuses the connection
 * like Fly's proxy does.
 */
class Proxy {
  constructor(targets) {
    /** @type {() => {host: string, port: number, index: number}[]} */
    this.targets = targets;
    this.next = 0;
    /** @type {number | null} */
    this.pinned = null;
    /** @type {Set<{client: net.Socket, upstream: net.Socket | null, gateway: number | null}>} */
    this.conns = new Set();
    /** Connections carried per gateway index, since start. */
    this.counts = [];
    /** @type {{gateway: number, at: number}[]} */
    this.log = [];
    this.server = net.createServer((client) => this.accept(client));
  }

  listen() {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve(/** @type {net.AddressInfo} */ (this.server.address()).port));
      this.server.unref();
    });
  }

  /** New connections go to gateway `i` only (`null`: round robin again). */
  pin(i) {
    this.pinned = i;
  }

  /** Cuts every connection it carries now (both sides), like a proxy or network hiccup. */
  dropAll() {
    for (const c of this.conns) {
      c.client.destroy();
      c.upstream?.destroy();
    }
    this.conns.clear();
  }

  /** Gateway index of each connection open now. */
  open() {
    return [...this.conns].map((c) => c.gateway);
  }

  accept(client) {
    const conn = { client, upstream: null, gateway: null };
    this.conns.add(conn);
    client.pause();
    client.on('error', () => {});
    client.on('close', () => { conn.upstream?.destroy(); this.conns.delete(conn); });
    const all = this.targets();
    const order = this.pinned !== null
      ? all.filter((t) => t.index === this.pinned)
      : all.map((_, k) => all[(this.next + k) % all.length]);
    if (this.pinned === null) this.next = (this.next + 1) % Math.max(all.length, 1);
    const tryNext = (k) => {
      if (client.destroyed) return;
      if (k >= order.length) { client.destroy(); return; }
      const t = order[k];
      const up = net.connect({ host: t.host, port: t.port });
      const timer = setTimeout(() => up.destroy(new Error('connect timeout')), 3000);
      up.once('connect', () => {
        clearTimeout(timer);
        if (client.destroyed) { up.destroy(); return; }
        conn.upstream = up;
        conn.gateway = t.index;
        this.counts[t.index] = (this.counts[t.index] ?? 0) + 1;
        this.log.push({ gateway: t.index, at: Date.now() });
        up.setNoDelay(true);
        client.setNoDelay(true);
        up.on('error', () => client.destroy());
        up.on('close', () => client.destroy());
        client.pipe(up);
        up.pipe(client);
        client.resume();
      });
      up.once('error', () => { clearTimeout(timer); if (!conn.upstream) tryNext(k + 1); });
    };
    tryNext(0);
  }

  close() {
    this.dropAll();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/**
 * Starts the whole production-like topology.
 *
 * @param {{dataDir?: string, logDir?: string, jvm?: string[], props?: Record<string, Record<string, string>>}} [options]
 *   `props`: extra system properties per app name (e.g. `{gateway: {'gateway.pairing-grace': '1s'}}`)
 */
export async function startProdLike({ dataDir, logDir, jvm = [], props = {} } = {}) {
  const network = prodLikeNetwork();
  if (!network.mode) {
    const e = new Error(`production-like run impossible here: ${network.why}`);
    /** @type {any} */ (e).skip = true;
    throw e;
  }
  for (const a of APPS) {
    const jar = join(repoRoot, a.module, 'target/quarkus-app/quarkus-run.jar');
    if (!existsSync(jar)) throw new Error(`${jar} is missing: ./mvnw -o -q -B package -DskipTests -pl ${a.module} -am`);
  }
  const cert = devCert();
  const run = randomBytes(3).toString('hex');
  dataDir ??= join(repoRoot, '.data', `prod-like-${run}`);
  logDir ??= join(dataDir, 'logs');
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });

  const topo = {
    run,
    mode: network.mode,
    dataDir,
    logDir,
    jvm,
    props,
    /** @type {Set<number>} */
    pids: new Set(),
    fly: Object.fromEntries(APPS.map((a) => [a.name, flyEnv(a.name)])),
    /** @type {Record<string, {http: number, ssl: number, mgmt: number}>} */
    ports: {},
    secrets: {
      EVENTPATHS_LINK_SECRET: randomBytes(24).toString('base64url'),
      GATEWAY_GUEST_KEY: randomBytes(32).toString('base64url'),
      TLS_CERT_B64: readFileSync(cert.cert).toString('base64'),
      TLS_KEY_B64: readFileSync(cert.key).toString('base64'),
      TASKS_POSTGRES_URL: '',
    },
    hostsFile: join(dataDir, 'hosts'),
    addressOf: /** @type {(i: Instance | 'db') => string} */ (null),
    pgDir: /** @type {string | null} */ (null),
  };

  // Addresses: a random IPv6 ULA /64 per run (namespaces), or a random 127.a.b.0/24.
  const r = randomBytes(6);
  // Canonical text (RFC 5952: no leading zeros, and the fourth group never 0, which would
  // join the "::" run: `fd..:0::10` is written `fd..::10` by getent and in :authority headers;
  // it made one CI run in 256 fail): it also goes into HTTP/2 :authority headers.
  const prefix = `fd${r.toString('hex', 0, 1)}:${r.readUInt16BE(1).toString(16)}:${r.readUInt16BE(3).toString(16)}:${(1 + (r[5] % 255)).toString(16)}`;
  const lo = `127.${1 + (r[0] % 250)}.${r[1]}`;
  let slot = 16;
  const slots = new Map();
  topo.addressOf = (x) => {
    if (!slots.has(x)) slots.set(x, x === 'db' ? 5 : slot++);
    const n = slots.get(x);
    return topo.mode === 'netns' ? `${prefix}::${n.toString(16)}` : `${lo}.${n}`;
  };

  // Cleanup, whatever happens: on stop(), on process exit (a failed test, Ctrl-C via the
  // exit that follows SIGINT), and for runs whose process died harder, the next run's sweep.
  let cleaned = false;
  const cleanupSync = () => {
    if (cleaned) return;
    cleaned = true;
    for (const pid of topo.pids) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    if (topo.mode === 'netns') spawnSync('bash', [NET_SH, 'down', run], { stdio: 'ignore', env: { ...process.env, EVENTPATHS_PROD_LIKE_STATE: STATE_DIR } });
    if (topo.pgDir) spawnSync('bash', [join(repoRoot, '.ci/pg-stop.sh'), topo.pgDir], { stdio: 'ignore' });
  };
  process.once('exit', cleanupSync);
  for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP'])) {
    if (process.listenerCount(sig) === 0) process.once(sig, () => process.exit(128 + os_signal(sig)));
  }

  const instances = APPS.flatMap((a) => Array.from({ length: INSTANCES_PER_APP }, (_, i) => new Instance(topo, a, i)));
  const of = (name) => instances.filter((i) => i.name === name);
  let proxy;

  try {
    // Ports: one set per app, the same on each of its instances (like an app's internal_port),
    // free on every address of this machine.
    for (const a of APPS) topo.ports[a.name] = { http: await freePort(), ssl: await freePort(), mgmt: await freePort() };

    // The names: every app's instances under eventpaths-<app>.internal, the database under its own.
    const hosts = ['127.0.0.1 localhost', '::1 localhost ip6-localhost ip6-loopback'];
    for (const inst of instances) hosts.push(`${inst.address} ${topo.fly[inst.name].appName}.internal`);
    hosts.push(`${topo.addressOf('db')} ${DB_NAME}`);
    writeFileSync(topo.hostsFile, `${hosts.join('\n')}\n`);

    if (topo.mode === 'netns') {
      mkdirSync(STATE_DIR, { recursive: true });
      spawnSync('bash', [NET_SH, 'sweep'], { stdio: 'inherit', env: { ...process.env, EVENTPATHS_PROD_LIKE_STATE: STATE_DIR } });
      writeFileSync(join(STATE_DIR, `${run}.owner`), String(process.pid));
      const specs = [`ep-${run}-postgres=${topo.addressOf('db')}`, ...instances.map((i) => `${i.ns}=${i.address}`)];
      const up = spawnSync('bash', [NET_SH, 'up', run, prefix, topo.hostsFile, ...specs], { encoding: 'utf8' });
      if (up.status !== 0) throw new Error(`prod-like-net.sh up failed: ${up.stderr}`);
    }

    // PostgreSQL, reachable by name from the tasks-write instances only through the network.
    const pgEnv = { ...process.env, PG_LISTEN: `127.0.0.1,${topo.addressOf('db')}`,
      PG_ALLOW: topo.mode === 'netns' ? `${prefix}::/64` : '127.0.0.0/8' };
    const pgArgv = topo.mode === 'netns'
      ? ['ip', 'netns', 'exec', `ep-${run}-postgres`, 'bash', join(repoRoot, '.ci/pg-start.sh')]
      : ['bash', join(repoRoot, '.ci/pg-start.sh')];
    const pg = spawnSync(pgArgv[0], pgArgv.slice(1), { encoding: 'utf8', env: pgEnv });
    if (pg.status !== 0) throw new Error(`.ci/pg-start.sh failed: ${pg.stderr}`);
    topo.pgDir = /PGDIR=(\S+)/.exec(pg.stdout)?.[1] ?? null;
    if (topo.mode === 'netns' && topo.pgDir) writeFileSync(join(STATE_DIR, `${run}.pgdir`), topo.pgDir);
    const pgPort = /:(\d+)\/tasks/.exec(pg.stdout)?.[1];
    topo.secrets.TASKS_POSTGRES_URL = `jdbc:postgresql://${DB_NAME}:${pgPort}/tasks?user=postgres`;

    // Deploy order, one tier at a time (each tier's instances start together).
    for (const tier of [0, 1]) {
      await Promise.all(instances.filter((i) => i.app.tier === tier).map((i) => i.start()));
    }

    proxy = new Proxy(() => of('gateway').map((g) => ({ host: g.address, port: g.ports.ssl, index: g.index })));
    const proxyPort = await proxy.listen();

    /** The whole tasks-write log, read like tasks-read reads it: a real h2c link to one instance. */
    async function readLog({ after = 0, timeoutMs = 30_000 } = {}) {
      const tw = of('tasks-write').filter((i) => i.running);
      if (!tw.length) throw new Error('readLog: no tasks-write instance is running');
      return readLinkUntil(tw[0], `/links/log?after=${after}`, topo.secrets.EVENTPATHS_LINK_SECRET,
        (e) => e.type === 'log.live', timeoutMs).then((events) => events.filter((e) => typeof e.seq === 'number' && !e.type.startsWith('link.')));
    }

    const api = {
      origin: `https://127.0.0.1:${proxyPort}`,
      ca: cert.ca,
      cert,
      mode: topo.mode,
      run,
      dataDir,
      logDir,
      hostsFile: topo.hostsFile,
      linkSecret: topo.secrets.EVENTPATHS_LINK_SECRET,
      proxy,
      instances: (name) => of(name),
      instance: (name, i = 0) => {
        const inst = of(name)[i];
        if (!inst) throw new Error(`no instance ${name}[${i}]`);
        return inst;
      },
      readLog,
      /** Stops everything and removes the network; the data folder stays (logs). */
      stop: async () => {
        await proxy?.close();
        await Promise.all(instances.map((i) => i.kill('SIGTERM')));
        cleanupSync();
        process.removeListener('exit', cleanupSync);
      },
      /** Restarts every instance (or those of `name`), SIGTERM then start, deploy order. */
      restart: async (name) => {
        const chosen = name ? of(name) : instances;
        await Promise.all(chosen.map((i) => i.kill('SIGTERM')));
        for (const tier of [0, 1]) await Promise.all(chosen.filter((i) => i.app.tier === tier).map((i) => i.start()));
      },
    };
    return api;
  } catch (e) {
    await proxy?.close().catch(() => {});
    cleanupSync();
    process.removeListener('exit', cleanupSync);
    throw e;
  }
}

function os_signal(sig) {
  return { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 }[sig] ?? 1;
}

/**
 * Opens a host-to-host link (docs/PROTOCOL.md section 2) over h2c with prior knowledge and
 * collects its events until `until(event)` holds; the link is then cancelled.
 *
 * @param {{url: string, authority: string}} peer an Instance (its h2c origin and :authority)
 * @param {string} path `/links/<service>?<params>`
 * @param {string} secret
 * @param {(e: any) => boolean} until
 * @param {number} timeoutMs
 * @returns {Promise<any[]>}
 */
export function readLinkUntil(peer, path, secret, until, timeoutMs = 30_000) {
  const origin = peer.url;
  return new Promise((resolve, reject) => {
    const session = http2.connect(origin);
    const events = [];
    let buf = '';
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.destroy();
      if (err) reject(err); else resolve(events);
    };
    const timer = setTimeout(() => finish(new Error(`${origin}${path}: no end within ${timeoutMs} ms (${events.length} events)`)), timeoutMs);
    session.on('error', (e) => finish(e));
    const req = session.request({
      ':method': 'POST',
      ':path': path,
      ':authority': peer.authority,
      authorization: `Bearer ${secret}`,
      'eventpaths-caller': 'prod-like-test',
      'content-type': 'application/x-ndjson',
    });
    req.on('response', (h) => {
      if (h[':status'] !== 200) {
        let body = '';
        req.on('data', (d) => { body += d; });
        req.on('end', () => finish(new Error(`${origin}${path}: HTTP ${h[':status']} ${body}`)));
      }
    });
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const e = JSON.parse(line);
        if (e.type === 'link.heartbeat') continue;
        events.push(e);
        if (e.type === 'link.error' && e.data?.fatal) return finish(new Error(`${origin}${path}: ${line}`));
        if (until(e)) return finish();
      }
    });
    req.on('end', () => finish(new Error(`${origin}${path}: ended before the awaited event (${events.length} events)`)));
    req.on('error', (e) => finish(e));
  });
}
