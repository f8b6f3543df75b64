import { chromium } from 'playwright-core';
const origin = process.argv[2]; const path = process.argv[3] ?? '/demo/index.html';
const ctx = await chromium.launchPersistentContext('/tmp/ud-' + Date.now(), { executablePath: '/usr/bin/chromium', headless: true,
  args: ['--headless','--no-sandbox','--disable-gpu','--disable-quic','--no-first-run','--disable-background-networking','--disable-component-update','--disable-sync','--ignore-certificate-errors'], ignoreHTTPSErrors: true });
ctx.on('console', (m) => console.log('console:', m.text()));
ctx.on('weberror', (e) => console.log('weberror:', e.error()));
const page = await ctx.newPage();
page.on('console', (m) => console.log('page:', m.text()));
page.on('pageerror', (e) => console.log('pageerror:', e));
await page.goto(origin + path);
await page.waitForTimeout(3000);
console.log(await page.textContent('.status'));
await page.click('button[type=submit]');
await page.click('#send-100');
await page.waitForTimeout(2000);
console.log(await page.textContent('.counts'));
console.log((await page.textContent('#events')).slice(0, 300));
console.log(await page.textContent('#errors'));
await ctx.close();
