// Starts what the browser tests need, each private to the run: zynkd (the binary built by
// cargo, serving the embedded client) on the embedded default or on PostgreSQL + Redis + S3,
// and a coturn relay. Nothing is skipped: a missing service fails with a clear message.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

export function die(message) {
  console.error(`error: ${message}`);
  process.exit(1);
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

async function waitFor(check, what, timeoutMs = 60000) {
  const start = Date.now();
  let last;
  while (Date.now() - start < timeoutMs) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not come up in ${timeoutMs / 1000} s${last ? `: ${last.message}` : ''}`);
}

export const TURN_SECRET = 'zynk-web-test-turn-secret';

export async function startCoturn(children) {
  const bin = process.env.ZYNK_TURNSERVER || 'turnserver';
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'zynk-web-turn-'));
  const min = 51000 + (port % 200) * 40;
  const child = spawn(
    bin,
    [
      '--listening-ip', '127.0.0.1', '--relay-ip', '127.0.0.1',
      '--listening-port', String(port),
      '--min-port', String(min), '--max-port', String(min + 39),
      '--no-tls', '--no-dtls', '--no-cli', '--use-auth-secret',
      '--static-auth-secret', TURN_SECRET, '--realm', 'zynk.test',
      '--allow-loopback-peers',
      '--pidfile', join(dir, 'turnserver.pid'), '--log-file', join(dir, 'turn.log'),
    ],
    { stdio: 'ignore' },
  );
  child.on('error', (e) => die(`turnserver (${bin}) does not start: ${e.message}; install coturn`));
  children.push(child);
  await new Promise((r) => setTimeout(r, 500));
  if (child.exitCode !== null) die(`turnserver exited with ${child.exitCode}`);
  return { port, dir };
}

/// Start zynkd on `engine` ("embedded" or "scale"); returns {url, dataDir, storage}.
export async function startServer(engine, turnPort, children) {
  const bin = process.env.ZYNKD_BIN || join(process.cwd(), '..', 'target', 'debug', 'zynkd');
  if (!existsSync(bin)) die(`${bin} is missing: cargo build -p zynkd first`);
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), `zynk-web-${engine}-`));
  const env = {
    ...process.env,
    ZYNK_DATA_DIR: dataDir,
    ZYNK_LISTEN: `127.0.0.1:${port}`,
    ZYNK_LOG: 'warn',
    ZYNK_AUTH__PBKDF2_ITERATIONS: '1000',
    ZYNK_TURN__SHARED_SECRET: TURN_SECRET,
    ZYNK_TURN__URLS: `["turn:127.0.0.1:${turnPort}?transport=udp"]`,
    ZYNK_ANCHOR_INTERVAL_SECS: '2',
  };
  const storage = { engine, dataDir };
  if (engine === 'scale') {
    const pg = process.env.ZYNK_TEST_POSTGRES_URL || die('ZYNK_TEST_POSTGRES_URL is not set (scripts/test.sh sets it)');
    const redis = process.env.ZYNK_TEST_REDIS_URL || die('ZYNK_TEST_REDIS_URL is not set');
    const s3 = process.env.ZYNK_TEST_S3_URL || die('ZYNK_TEST_S3_URL is not set');
    const s3Root = process.env.ZYNK_TEST_S3_ROOT || die('ZYNK_TEST_S3_ROOT is not set');
    const db = `zynk_web_${randomUUID().replace(/-/g, '')}`;
    execFileSync('psql', [pg, '-q', '-c', `CREATE DATABASE ${db}`], { stdio: 'inherit' });
    const bucket = `zw-${randomUUID().replace(/-/g, '')}`;
    mkdirSync(join(s3Root, bucket));
    Object.assign(env, {
      ZYNK_DATABASE_URL: pg.replace(/\/[^/]*$/, `/${db}`),
      ZYNK_REDIS_URL: redis,
      ZYNK_REDIS_KEY_PREFIX: `${db}:`,
      ZYNK_FILES__STORAGE_URL: `${s3}/${bucket}`,
    });
    Object.assign(storage, { databaseUrl: env.ZYNK_DATABASE_URL, bucketDir: join(s3Root, bucket) });
  }
  const child = spawn(bin, ['serve'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  child.on('error', (e) => die(`zynkd does not start: ${e.message}`));
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/readyz`)).ok, `zynkd (${engine})`);
  return { url, storage };
}

function filesUnder(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out;
}

/// Everything the server stored, as one buffer per source: the data directory (SQLite database,
/// its WAL, local blobs), and on the scale engine a dump of the PostgreSQL database and the
/// S3 bucket's files.
export function storedBytes(storage) {
  const sources = [];
  for (const path of filesUnder(storage.dataDir)) sources.push({ name: path, bytes: readFileSync(path) });
  if (storage.databaseUrl) {
    const dump = execFileSync('pg_dump', ['--data-only', storage.databaseUrl], { maxBuffer: 512 * 1024 * 1024 });
    sources.push({ name: 'pg_dump', bytes: dump });
    for (const path of filesUnder(storage.bucketDir)) sources.push({ name: path, bytes: readFileSync(path) });
  }
  return sources;
}

export function stopAll(children) {
  for (const child of children.reverse()) {
    if (child.exitCode === null) child.kill('SIGTERM');
  }
}
