// Chromium for the e2e tests: Debian's /usr/bin/chromium, headless, on a fresh profile
// each time. Two ways to run it:
// - through Playwright (playwright-core, no browser download), for tests that drive pages;
// - plain, with no debugger attached, for the service-worker lifetime test: Playwright's
//   debugger connection keeps service workers alive, which would hide what is tested. A
//   plain Chromium reports through its console log on stderr (--enable-logging=stderr).

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  throw new Error(`no Chromium at ${CHROMIUM}: install it (bash .ci/install-debian-deps.sh) or set CHROMIUM`);
}

// --ignore-certificate-errors: a service worker registers on the dev certificate only with
// it (Playwright's ignoreHTTPSErrors is not enough). --disable-quic: h2 over TCP, the path
// under test.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--ignore-certificate-errors',
];

/**
 * A Playwright browser context on a fresh profile. `close()` also removes the profile.
 *
 * @returns {Promise<import('playwright-core').BrowserContext & {dispose: () => Promise<void>}>}
 */
export async function launchBrowser() {
  const profile = mkdtempSync(join(tmpdir(), 'eventpaths-e2e-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    ignoreHTTPSErrors: true,
    timeout: 30_000,
  });
  return Object.assign(context, {
    dispose: async () => {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  });
}

/**
 * Opens `url` in a plain headless Chromium (no Playwright, no debugger) and follows the
 * page's console log. Lines the page logs as `EP-<KIND> <json>` are handed to `onReport`.
 *
 * @param {string} url
 * @param {(kind: string, value: unknown, line: string) => void} onReport
 * @returns {{exited: Promise<number | null>, stop: () => Promise<void>}}
 */
export function runPlainChromium(url, onReport) {
  const profile = mkdtempSync(join(tmpdir(), 'eventpaths-plain-'));
  // Its own process group, so that stopping it stops its helper processes too.
  const child = spawn(CHROMIUM, [...CHROMIUM_ARGS, '--enable-logging=stderr', '--v=0', `--user-data-dir=${profile}`, url], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  // If this Node process ends first (a test timed out), the browser must not outlive it.
  const orphaned = () => {
    try {
      process.kill(-(/** @type {number} */ (child.pid)), 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', orphaned);
  const exited = new Promise((resolve) =>
    child.once('exit', (code) => {
      process.removeListener('exit', orphaned);
      resolve(code);
    }),
  );
  // Console lines look like: [pid:tid:time:INFO:CONSOLE:83] "EP-RESULT {...}", source: ... (83)
  const lines = createInterface({ input: /** @type {import('node:stream').Readable} */ (child.stderr) });
  lines.on('line', (line) => {
    const match = /:CONSOLE[^\]]*\] "(EP-[A-Z]+) ?(.*)", source: /.exec(line);
    if (!match) return;
    let value;
    try {
      value = match[2] === '' ? undefined : JSON.parse(match[2]);
    } catch {
      value = match[2];
    }
    onReport(match[1], value, line);
  });
  return {
    exited,
    stop: async () => {
      const group = /** @type {number} */ (child.pid);
      const signal = (/** @type {NodeJS.Signals} */ sig) => {
        try {
          process.kill(-group, sig);
        } catch {
          // already gone
        }
      };
      if (child.exitCode === null) {
        signal('SIGTERM');
        const timer = setTimeout(() => signal('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      signal('SIGKILL'); // helpers that outlived the browser process
      rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
}
