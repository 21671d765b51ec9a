import { defineConfig } from 'vite';

// The client is served by zynkd from the same origin as the API: no dev proxy, no other
// origins. Assets are never inlined (the CSP allows scripts from 'self' only).
export default defineConfig({
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    target: 'es2022',
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: false,
  },
});
