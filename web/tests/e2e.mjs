// End-to-end tests of the browser client in Debian's Chromium (playwright-core, no browser
// download): node tests/e2e.mjs embedded|scale [--screenshots DIR]
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { deflateSync, crc32 } from 'node:zlib';
import { startCoturn, startServer, storedBytes, stopAll, die } from './harness.mjs';

const engine = process.argv[2];
if (!['embedded', 'scale'].includes(engine)) die('usage: node tests/e2e.mjs embedded|scale [--screenshots DIR]');
const shotsAt = process.argv.indexOf('--screenshots');
const shots = shotsAt > 0 ? process.argv[shotsAt + 1] : null;
if (shots) mkdirSync(shots, { recursive: true });
const executablePath = process.env.ZYNK_CHROMIUM || '/usr/bin/chromium';
const T = 60000;

const children = [];
process.on('exit', () => stopAll(children));
process.on('SIGINT', () => process.exit(130));

const suffix = randomBytes(3).toString('hex');
const password = 'correct horse battery';
const names = { a: `ann_${suffix}`, b: `bob_${suffix}`, c: `cat_${suffix}` };
const secrets = [];
const secret = (label) => {
  const text = `${label} ${randomBytes(6).toString('hex')}`;
  secrets.push(text);
  return text;
};

/// A real PNG (RGB gradient with random noise, so its bytes are unique to the run).
function png(width, height) {
  const noise = randomBytes(width * height);
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0;
    for (let x = 0; x < width; x++) {
      const o = y * (width * 3 + 1) + 1 + x * 3;
      raw[o] = (x * 4) & 255;
      raw[o + 1] = (y * 4) & 255;
      raw[o + 2] = noise[y * width + x];
    }
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
const secretBuffers = [];

async function shot(page, name) {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png` });
}

async function step(name, body) {
  const started = Date.now();
  process.stdout.write(`[${engine}] ${name} … `);
  await body();
  console.log(`ok (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

async function signIn(page, url, username, action) {
  await page.goto(url);
  await page.getByTestId('username').fill(username);
  await page.getByTestId('password').fill(password);
  await page.getByTestId(action).click();
  await page.getByTestId('connection').filter({ hasText: 'online' }).waitFor({ timeout: T });
}

const message = (page, text) => page.getByTestId('message').filter({ hasText: text });

async function main() {
  const turn = await startCoturn(children);
  const { url, storage } = await startServer(engine, turn.port, children);
  const browser = await chromium.launch({
    executablePath,
    args: ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--no-sandbox'],
  });
  const timings = {};
  const pages = {};
  mkdirSync('test-results', { recursive: true });
  try {
    const ctx = {};
    const page = pages;
    for (const who of ['a', 'b', 'c']) {
      ctx[who] = await browser.newContext({ viewport: { width: 1100, height: 760 }, acceptDownloads: true });
      await ctx[who].grantPermissions(['camera', 'microphone']);
      page[who] = await ctx[who].newPage();
      page[who].on('pageerror', (e) => console.error(`[${who}] page error: ${e.message}`));
      page[who].on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.error(`[${who}] console: ${m.text()}`); });
    }
    const { a, b, c } = page;

    await step('the sign-in view loads under the CSP', async () => {
      const start = Date.now();
      const response = await a.goto(url);
      await a.getByTestId('username').waitFor({ timeout: T });
      timings.signInViewMs = Date.now() - start;
      const csp = response.headers()['content-security-policy'];
      assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/);
      assert.doesNotMatch(csp, /unsafe-inline/);
      await shot(a, 'sign-in');
    });

    await step('two people register', async () => {
      await signIn(a, url, names.a, 'register');
      await signIn(b, url, names.b, 'register');
      // Nothing secret in localStorage or sessionStorage.
      const stored = await a.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
      assert.doesNotMatch(stored, /zat_|zrt_/);
    });

    const first = secret('hello bob, first message');
    const reply = secret('hi ann, the reply');
    await step('a 1:1: message, request accepted, typing, reply, read state', async () => {
      await a.getByTestId('contact').fill(names.b);
      await a.getByTestId('open-conversation').click();
      await a.getByTestId('compose').fill(first);
      await a.getByTestId('send').click();
      await message(a, first).waitFor({ timeout: T });
      // Bob sees a message request, reads it and accepts.
      await b.getByTestId('request').first().click({ timeout: T });
      await message(b, first).waitFor({ timeout: T });
      await b.getByTestId('accept').click();
      await b.getByTestId('accept').waitFor({ state: 'detached', timeout: T });
      // Typing shows on the other side.
      await b.getByTestId('compose').pressSequentially('hi a', { delay: 30 });
      await a.getByTestId('typing').filter({ hasText: names.b }).waitFor({ timeout: T });
      await b.getByTestId('compose').fill(reply);
      await b.getByTestId('compose').press('Enter');
      await message(a, reply).waitFor({ timeout: T });
      await message(b, reply).waitFor({ timeout: T });
      // Bob has the conversation open: Ann's message is marked read.
      await a.locator('[data-testid=message][data-state=read]').filter({ hasText: first }).waitFor({ timeout: T });
      await shot(a, 'conversation');
    });

    await step('an image is sent, shown as a thumbnail and downloaded', async () => {
      const picture = png(400, 300);
      secretBuffers.push(picture.subarray(100, 164));
      await a.getByTestId('attach').setInputFiles({ name: `photo-${suffix}.png`, mimeType: 'image/png', buffer: picture });
      for (const p of [a, b]) {
        const thumb = p.getByTestId('message').filter({ hasText: `photo-${suffix}.png` }).getByTestId('thumbnail');
        await thumb.waitFor({ timeout: T });
        await p.waitForFunction((img) => img.complete && img.naturalWidth > 0, await thumb.elementHandle(), { timeout: T });
        const size = await thumb.evaluate((img) => [img.naturalWidth, img.naturalHeight]);
        assert.deepEqual(size, [320, 240], 'the thumbnail is the scaled image');
      }
      const [download] = await Promise.all([
        b.waitForEvent('download', { timeout: T }),
        b.getByTestId('message').filter({ hasText: `photo-${suffix}.png` }).getByTestId('download').click(),
      ]);
      const { readFileSync } = await import('node:fs');
      const saved = readFileSync(await download.path());
      assert.ok(saved.equals(picture), 'the downloaded file is the sent one');
    });

    await step('a reload keeps the history (the sealed state is unlocked with the password)', async () => {
      const start = Date.now();
      await b.reload();
      await b.getByTestId('username').waitFor({ timeout: T });
      await b.getByTestId('password').fill(password);
      await b.getByTestId('login').click();
      await b.getByTestId('conversation').first().click({ timeout: T });
      await message(b, first).waitFor({ timeout: T });
      timings.reloadToConversationMs = Date.now() - start;
      await message(b, reply).waitFor({ timeout: T });
    });

    await step('messages go both ways after the reload', async () => {
      const again = secret('after the reload');
      await b.getByTestId('compose').fill(again);
      await b.getByTestId('send').click();
      await message(a, again).waitFor({ timeout: T });
    });

    const groupText = secret('hello group of three');
    await step('a group of three', async () => {
      await signIn(c, url, names.c, 'register');
      await a.getByText('New group').click();
      await a.getByTestId('group-name').fill(`team ${suffix}`);
      await a.getByTestId('group-members').fill(`${names.b}, ${names.c}`);
      await a.getByTestId('create-group').click();
      await a.locator('h2', { hasText: `team ${suffix}` }).waitFor({ timeout: T });
      await a.getByTestId('compose').fill(groupText);
      await a.getByTestId('send').click();
      await message(a, groupText).waitFor({ timeout: T });
      for (const p of [b, c]) {
        const entry = p.getByTestId('conversation').filter({ hasText: `team ${suffix}` });
        const request = p.getByTestId('request');
        await entry.or(request).first().click({ timeout: T });
        await message(p, groupText).waitFor({ timeout: T });
      }
      const answer = secret('cat answers the group');
      await c.getByTestId('compose').fill(answer);
      await c.getByTestId('send').click();
      await message(a, answer).waitFor({ timeout: T });
      await message(b, answer).waitFor({ timeout: T });
      await shot(a, 'group');
    });

    await step('no message plaintext reaches the server storage', async () => {
      const sources = storedBytes(storage);
      assert.ok(sources.length > 0, 'no stored data found');
      for (const text of secrets) {
        for (const { name, bytes } of sources) {
          assert.ok(!bytes.includes(Buffer.from(text)), `"${text}" found in ${name}`);
        }
      }
      for (const needle of secretBuffers) {
        for (const { name, bytes } of sources) {
          assert.ok(!bytes.includes(needle), `the image's bytes found in ${name}`);
        }
      }
      // The check can fail: the usernames are stored in the clear, and are found.
      assert.ok(sources.some(({ bytes }) => bytes.includes(Buffer.from(names.a))), 'the check finds nothing at all');
    });

    await step('a video call through the TURN relay', async () => {
      await a.getByTestId('conversation').filter({ hasText: names.b }).click();
      await b.getByTestId('conversation').filter({ hasText: names.a }).click();
      await a.getByTestId('call-video').click();
      await b.getByTestId('answer').click({ timeout: T });
      for (const p of [a, b]) {
        await p.getByTestId('peer-state').filter({ hasText: /^connected$/ }).waitFor({ timeout: T });
        await p.getByTestId('call-state').filter({ hasText: 'in_progress' }).waitFor({ timeout: T });
      }
      const bytes = async (p) => Number(await p.getByTestId('inbound-bytes').textContent());
      const before = [await bytes(a), await bytes(b)];
      await a.waitForTimeout(2500);
      const after = [await bytes(a), await bytes(b)];
      assert.ok(after[0] > before[0] && before[0] >= 0, `inbound RTP on the caller: ${before[0]} → ${after[0]}`);
      assert.ok(after[1] > before[1], `inbound RTP on the callee: ${before[1]} → ${after[1]}`);
      await shot(a, 'call');
      await a.waitForTimeout(1100);
      await a.getByTestId('hang-up').click();
      for (const p of [a, b]) {
        await p.getByTestId('call-state').filter({ hasText: 'ended' }).waitFor({ timeout: T });
        await p.getByTestId('call-duration').waitFor({ timeout: T });
      }
      const duration = Number(await a.getByTestId('call-duration').textContent());
      assert.ok(duration >= 1, `call duration ${duration}`);
    });

    await step('settings list the devices; logout erases the device', async () => {
      await a.getByTestId('settings').click();
      await a.getByTestId('devices').locator('li').first().waitFor({ timeout: T });
      await shot(a, 'settings');
      // At phone width the open conversation takes the screen; Back shows the list again.
      await a.setViewportSize({ width: 390, height: 800 });
      await a.getByTestId('message').first().waitFor({ timeout: T });
      await shot(a, 'phone');
      await a.getByRole('button', { name: 'Back to the list' }).click();
      await a.getByTestId('logout').click();
      await a.getByTestId('username').waitFor({ timeout: T });
      const left = await a.evaluate(
        () =>
          new Promise((resolve) => {
            const r = indexedDB.open('zynk', 1);
            r.onsuccess = () => {
              const q = r.result.transaction('device').objectStore('device').count();
              q.onsuccess = () => resolve(q.result);
            };
          }),
      );
      assert.equal(left, 0, 'the sealed state is erased');
    });

    console.log(`[${engine}] timings: ${JSON.stringify(timings)}`);
  } catch (e) {
    // What each page showed when it failed.
    for (const [who, p] of Object.entries(pages)) {
      const alerts = await p.locator('[role=alert]').allTextContents().catch(() => []);
      console.error(`[${who}] alerts: ${JSON.stringify(alerts)}`);
      await p.screenshot({ path: `test-results/${engine}-${who}.png` }).catch(() => undefined);
    }
    throw e;
  } finally {
    await browser.close();
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`\n[${engine}] FAILED: ${e.stack ?? e}`);
    process.exit(1);
  },
);
