// Parsers the Fly check needs: Quarkus application.properties, fly/Dockerfile, .dockerignore.
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';

/** application.properties as the prod profile sees it (no %dev/%test entries). */
export function readProperties(file) {
  const plain = new Map();
  const prod = new Map();
  let text = fs.readFileSync(file, 'utf8').replace(/\\\r?\n[ \t]*/g, '');
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('!')) continue;
    const m = /^([^=:\s]+)\s*[=:]\s*(.*)$/.exec(line) || /^(\S+)\s+(.*)$/.exec(line);
    if (!m) continue;
    let [, key, value] = m;
    if (key.startsWith('%')) {
      const dot = key.indexOf('.');
      const profiles = key.slice(1, dot).split(',');
      if (profiles.includes('prod')) prod.set(key.slice(dot + 1), value);
      continue;
    }
    plain.set(key, value);
  }
  for (const [k, v] of prod) plain.set(k, v);
  return plain;
}

/** Splits a shell-like word list (ENV values, RUN flags): quotes and backslashes. */
export function shellWords(s) {
  const words = [];
  let cur = null;
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (/\s/.test(c)) {
      if (cur !== null) { words.push(cur); cur = null; }
      i++;
    } else if (c === '"') {
      cur ??= '';
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) { cur += s[i + 1]; i += 2; } else cur += s[i++];
      }
      i++;
    } else if (c === "'") {
      cur ??= '';
      i++;
      while (i < s.length && s[i] !== "'") cur += s[i++];
      i++;
    } else if (c === '\\' && i + 1 < s.length) {
      cur = (cur ?? '') + s[i + 1];
      i += 2;
    } else {
      cur = (cur ?? '') + c;
      i++;
    }
  }
  if (cur !== null) words.push(cur);
  return words;
}

/** ${VAR}, ${VAR:-default} and $VAR from vars (a Map), as the Dockerfile frontend does. */
export function substitute(s, vars) {
  return s.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (_, a, def, b) => {
      const name = a ?? b;
      const v = vars.get(name);
      return v !== undefined && v !== '' ? v : (def ?? '');
    });
}

/**
 * A Dockerfile as stages of instructions. args: build arguments (fly.toml [build.args]).
 * Returns { stages: [{ name, from, instructions: [{ op, text, ... }], env: Map, vars: Map }] }.
 */
export function parseDockerfile(text, args = {}) {
  const lines = [];
  let pending = '';
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*#/.test(raw) && pending === '') continue;
    if (/^\s*#/.test(raw)) continue; // comment inside a continued instruction
    if (/\\\s*$/.test(raw)) { pending += raw.replace(/\\\s*$/, ' '); continue; }
    const full = (pending + raw).trim();
    pending = '';
    if (full) lines.push(full);
  }
  if (pending.trim()) lines.push(pending.trim());

  const globalArgs = new Map();
  const stages = [];
  let stage = null;
  for (const line of lines) {
    const m = /^(\w+)\s*(.*)$/s.exec(line);
    const op = m[1].toUpperCase();
    const rest = m[2];
    if (op === 'FROM') {
      const w = shellWords(rest).filter((x) => !x.startsWith('--'));
      stage = {
        from: substitute(w[0], globalArgs), name: w[2] ?? null, instructions: [],
        env: new Map(), vars: new Map(), argNames: new Set(),
      };
      stages.push(stage);
      continue;
    }
    if (op === 'ARG') {
      const [name, ...def] = rest.split('=');
      const key = name.trim();
      const value = key in args ? String(args[key]) : (def.length ? shellWords(def.join('='))[0] ?? '' : undefined);
      if (!stage) { if (value !== undefined) globalArgs.set(key, value); continue; }
      stage.argNames.add(key);
      const inherited = value ?? globalArgs.get(key);
      if (inherited !== undefined) stage.vars.set(key, inherited);
      stage.instructions.push({ op, text: rest, name: key });
      continue;
    }
    if (!stage) throw new Error(`Dockerfile: ${op} before FROM`);
    const ins = { op, text: rest };
    if (op === 'ENV') {
      const words = shellWords(rest);
      const pairs = words.every((w) => w.includes('=')) ? words.map((w) => {
        const i = w.indexOf('=');
        return [w.slice(0, i), w.slice(i + 1)];
      }) : [[words[0], words.slice(1).join(' ')]];
      for (const [k, v] of pairs) {
        const value = substitute(v, stage.vars);
        stage.env.set(k, value);
        stage.vars.set(k, value);
      }
      ins.pairs = pairs;
    } else if (op === 'CMD' || op === 'ENTRYPOINT') {
      ins.exec = rest.trim().startsWith('[');
      ins.argv = ins.exec ? JSON.parse(rest) : ['/bin/sh', '-c', rest];
      stage[op.toLowerCase()] = ins.argv;
      stage[op.toLowerCase() + 'Exec'] = ins.exec;
    } else if (op === 'COPY' || op === 'ADD') {
      const words = shellWords(rest);
      const flags = {};
      const paths = [];
      for (const w of words) {
        const f = /^--([a-z-]+)(?:=(.*))?$/.exec(w);
        if (f && paths.length === 0) flags[f[1]] = f[2] ?? true; else paths.push(substitute(w, stage.vars));
      }
      ins.flags = flags;
      ins.dest = paths.pop();
      ins.srcs = paths;
    } else if (op === 'RUN') {
      const words = rest.match(/^((?:--\S+\s+)*)(.*)$/s);
      ins.flags = words[1].trim().split(/\s+/).filter(Boolean);
      ins.command = words[2];
    } else if (op === 'WORKDIR') {
      stage.workdir = path.posix.resolve(stage.workdir ?? '/', substitute(rest.trim(), stage.vars));
    } else if (op === 'USER') {
      stage.user = substitute(rest.trim(), stage.vars);
    }
    stage.instructions.push(ins);
  }
  return { stages, globalArgs };
}

/** A .dockerignore as a predicate on paths relative to the context root ('a/b/c'). */
export function dockerignore(text) {
  const rules = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const negate = line.startsWith('!');
    if (negate) line = line.slice(1).trim();
    line = line.replace(/^\/+/, '').replace(/\/+$/, '');
    let re = '';
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (c === '*' && line[i + 1] === '*') {
        if (line[i + 2] === '/') { re += '(?:.*/)?'; i += 2; } else { re += '.*'; i += 1; }
      } else if (c === '*') re += '[^/]*';
      else if (c === '?') re += '[^/]';
      else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
    // A pattern that names a folder excludes what is inside it too.
    rules.push({ negate, re: new RegExp(`^${re}(?:/.*)?$`) });
  }
  return (rel) => {
    let excluded = false;
    for (const r of rules) if (r.re.test(rel)) excluded = !r.negate;
    return excluded;
  };
}

/** Go-style durations as fly.toml writes them ("30s", "1m30s", "500ms") in milliseconds. */
export function durationMs(v) {
  if (typeof v === 'number') return v * 1000; // a bare number is seconds
  let total = 0;
  let matched = '';
  for (const m of String(v).matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2]];
    matched += m[0];
  }
  if (matched !== String(v)) return NaN;
  return total;
}

/** A free TCP port on every address (IPv6 and IPv4). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen({ port: 0, host: '::' }, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
