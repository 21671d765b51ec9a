// The first-load budget: everything the sign-in view fetches (the page, its script and style,
// the SDK's WebAssembly), compressed as a server or proxy would send it. Fails over 1.5 MB
// (gzip). node tests/budget.mjs [dist]
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';

const dist = process.argv[2] || new URL('../dist', import.meta.url).pathname;
const files = ['index.html', ...readdirSync(join(dist, 'assets')).filter((f) => !f.endsWith('.gz')).map((f) => `assets/${f}`)];
let raw = 0, gzip = 0, brotli = 0;
for (const f of files) {
  const bytes = readFileSync(join(dist, f));
  const g = gzipSync(bytes, { level: 9 }).length;
  const b = brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
  raw += bytes.length; gzip += g; brotli += b;
  console.log(`${f}\t${bytes.length}\tgzip ${g}\tbrotli ${b}`);
}
console.log(`total\t${raw}\tgzip ${gzip}\tbrotli ${brotli}`);
const limit = 1.5e6;
if (gzip > limit) {
  console.error(`error: the first load is ${gzip} bytes gzip-compressed, over the ${limit}-byte budget`);
  process.exit(1);
}
