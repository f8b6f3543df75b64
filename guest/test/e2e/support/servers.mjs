// Starts the real host side for browser tests and benches: the echo host service and the
// gateway, each as its own `java -jar` process from the packaged jars, on free loopback
// ports, in the prod profile (the profile that is deployed), serving guest/ from disk.
// Either can be stopped and started again on the same ports, which is how the e2e tests
// break the path under a running page.

import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import https from 'node:https';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const guestDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const repoRoot = join(guestDir, '..');
const certDir = join(repoRoot, '.certs');
const echoJar = join(repoRoot, 'read-services/echo/target/quarkus-app/quarkus-run.jar');
const gatewayJar = join(repoRoot, 'gateway/target/quarkus-app/quarkus-run.jar');

/**
 * The end of a service's log, for the error that says it did not start: in CI the log file
 * is gone with the machine, so the reason has to travel in the message.
 */
export function logTail(file, lines = 40) {
  try {
    const all = readFileSync(file, 'utf8').trimEnd().split('\n');
    return `\n--- last ${Math.min(lines, all.length)} lines of ${file} ---\n${all.slice(-lines).join('\n')}`;
  } catch (e) {
    return `\n(no log at ${file}: ${e.message})`;
  }
}

/** A port the OS says is free now (bound on loopback, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (server.address());
      server.close(() => resolve(port));
    });
  });
}

/** Makes the development certificate once (.ci/dev-cert.sh), and returns its files. */
export function devCert() {
  execFileSync('bash', [join(repoRoot, '.ci/dev-cert.sh'), certDir], { stdio: 'inherit' });
  return { cert: join(certDir, 'server.crt'), key: join(certDir, 'server.key'), ca: join(certDir, 'ca.crt') };
}

/** Fails with a hint when the jars are missing: building them is a separate, slow step. */
export function checkJars() {
  for (const jar of [echoJar, gatewayJar]) {
    if (!existsSync(jar)) {
      throw new Error(`${jar} is missing: build it first (cd .. && ./mvnw -o -q -B package -DskipTests)`);
    }
  }
}

/** Java processes running now: killed if this Node process ends first (a test timed out, Ctrl-C). */
const running = new Set();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});
for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
  process.once(signal, () => process.exit(128 + (signal === 'SIGINT' ? 2 : 15)));
}

/**
 * One Java process that can be stopped and started again with the same arguments.
 */
class JavaProcess {
  /**
   * @param {string} name
   * @param {string} jar
   * @param {string[]} args JVM options
   * @param {Record<string, string>} env
   * @param {() => Promise<boolean>} ready
   * @param {string} logDir
   */
  constructor(name, jar, args, env, ready, logDir) {
    Object.assign(this, { name, jar, args, env, ready, logDir });
    /** @type {import('node:child_process').ChildProcess | undefined} */
    this.child = undefined;
    this.starts = 0;
  }

  get logFile() {
    return join(this.logDir, `${this.name}.log`);
  }

  async start(timeoutMs = 30_000) {
    if (this.child) throw new Error(`${this.name} is running`);
    this.starts++;
    const log = openSync(this.logFile, 'a');
    const child = spawn('java', [...this.args, '-jar', this.jar], {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', log, log],
    });
    this.child = child;
    running.add(child);
    let exited = false;
    child.once('exit', () => {
      exited = true;
      running.delete(child);
      if (this.child === child) this.child = undefined;
    });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (exited) throw new Error(`${this.name} exited while starting; see ${this.logFile}${logTail(this.logFile)}`);
      if (await this.ready().catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    await this.stop();
    throw new Error(`${this.name} was not ready within ${timeoutMs} ms; see ${this.logFile}${logTail(this.logFile)}`);
  }

  /**
   * Stops the process: SIGKILL to make it a crash (connections dropped, nothing drained),
   * SIGTERM for an orderly stop. Resolves once it has exited.
   *
   * @param {'SIGKILL' | 'SIGTERM'} [signal]
   */
  async stop(signal = 'SIGTERM') {
    const child = this.child;
    if (!child) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    this.child = undefined;
  }
}

/**
 * @param {string} url
 * @param {string} [ca]
 */
function get(url, ca) {
  return new Promise((resolve, reject) => {
    const lib = url.startsWith('https:') ? https : http;
    const req = lib.get(url, { ca: ca ? readFileSync(ca) : undefined, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

/**
 * @typedef {object} HostSide
 * @property {string} origin the gateway's https origin, e.g. https://localhost:41234
 * @property {JavaProcess} echo
 * @property {JavaProcess} gateway
 * @property {{cert: string, key: string, ca: string}} cert
 * @property {() => Promise<void>} stop stops both
 */

/**
 * Starts echo and the gateway (routes: echo, source, sink on the echo app).
 *
 * @param {{logDir?: string, jvm?: string[], gatewayProps?: Record<string, string>}} [options]
 *   `jvm`: extra JVM options for both (the tests trade peak speed for start time)
 * @returns {Promise<HostSide>}
 */
export async function startHostSide({ logDir, jvm = [], gatewayProps = {} } = {}) {
  checkJars();
  const cert = devCert();
  const dir = logDir ?? join(repoRoot, '.data', 'e2e-logs');
  mkdirSync(dir, { recursive: true });
  const [echoPort, gwHttp, gwHttps] = [await freePort(), await freePort(), await freePort()];
  // Fresh secrets per run: both sides must agree, nothing else needs them.
  const env = {
    EVENTPATHS_LINK_SECRET: randomBytes(24).toString('base64url'),
    GATEWAY_GUEST_KEY: randomBytes(32).toString('base64url'),
  };
  const base = ['-Xmx256m', '-Dquarkus.log.level=WARN', ...jvm];
  const echo = new JavaProcess(
    'echo',
    echoJar,
    [...base, `-Dquarkus.http.port=${echoPort}`, '-Dquarkus.http.ssl-port=0', '-Dquarkus.http.host=127.0.0.1'],
    env,
    async () => (await get(`http://127.0.0.1:${echoPort}/q/health/ready`)) === 200,
    dir,
  );
  const props = {
    'quarkus.http.port': String(gwHttp),
    'quarkus.http.ssl-port': String(gwHttps),
    'quarkus.http.host': '127.0.0.1',
    'quarkus.tls.key-store.pem.0.cert': cert.cert,
    'quarkus.tls.key-store.pem.0.key': cert.key,
    'eventpaths.targets.echo.url': `http://127.0.0.1:${echoPort}`,
    'gateway.routes.source.target': 'echo',
    'gateway.routes.sink.target': 'echo',
    'gateway.guest-dir': guestDir,
    // No presence-read here: without this the gateway would try its feed every few seconds.
    'gateway.feed.target': '',
    ...gatewayProps,
  };
  const gateway = new JavaProcess(
    'gateway',
    gatewayJar,
    [...base, ...Object.entries(props).map(([k, v]) => `-D${k}=${v}`)],
    env,
    async () => (await get(`https://127.0.0.1:${gwHttps}/q/health/ready`, cert.ca)) === 200,
    dir,
  );
  await Promise.all([echo.start(), gateway.start()]);
  return {
    origin: `https://127.0.0.1:${gwHttps}`,
    echo,
    gateway,
    cert,
    stop: async () => {
      await Promise.all([gateway.stop(), echo.stop()]);
    },
  };
}
