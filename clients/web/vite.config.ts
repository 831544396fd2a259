/**
 * `npm run dev -w clients/web`: Vite on :5173, proxying the API and `/sync` to a sync
 * server on :8787 (`npm start`), or PARLEY_DEV_SERVER. `npm run build -w clients/web`:
 * the app in dist/, which the sync server serves at `/`, plus its service worker.
 */
import { fileURLToPath } from 'node:url'
import { defaultClientConditions, defineConfig } from 'vite'
import { serviceWorker } from './build/service-worker.ts'

const server = process.env.PARLEY_DEV_SERVER ?? 'http://127.0.0.1:8787'

export default defineConfig({
  // Preact through esbuild's JSX transform: no framework plugin needed.
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  resolve: {
    // The workspace's packages from their TypeScript source (see vitest.source.ts): no build step before this one.
    conditions: ['@parley/source', ...defaultClientConditions],
    alias: [
      // Automerge's WASM is loaded once from a URL in main.ts; the "fullfat" entries would
      // inline it as base64 or need a WASM bundler plugin.
      { find: /^@automerge\/automerge$/, replacement: '@automerge/automerge/slim' },
      { find: /^@automerge\/automerge-repo$/, replacement: '@automerge/automerge-repo/slim' },
      { find: /^level$/, replacement: fileURLToPath(new URL('./src/shims/level.ts', import.meta.url)) },
      // @parley/react's hooks run on Preact through its compat layer.
      { find: /^react(-dom)?$/, replacement: 'preact/compat' },
    ],
  },
  build: {
    target: 'es2022',
    rollupOptions: {
      onwarn(warning, warn) {
        // automerge-repo 2.5 names Automerge 3 functions (text refs) that Parley never calls on 2.x,
        // and core/src/scalar.ts probes for ImmutableString before falling back to RawString.
        if (warning.code === 'MISSING_EXPORT' && /automerge-repo|core\/src\/scalar/.test(warning.id ?? '')) return
        warn(warning)
      },
    },
  },
  plugins: [serviceWorker()],
  server: {
    proxy: {
      '/v1': server,
      '/healthz': server,
      '/sync': { target: server.replace(/^http/, 'ws'), ws: true },
    },
  },
})
