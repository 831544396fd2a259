/**
 * Emits `sw.js`: src/offline/service-worker.ts with the list of every file of this build
 * to precache, so the app loads with no network at all. Built only by `vite build`; the
 * dev server runs without a service worker.
 */
import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { transformWithEsbuild, type Plugin } from 'vite'

const SOURCE = fileURLToPath(new URL('../src/offline/service-worker.ts', import.meta.url))

export function serviceWorker(): Plugin {
  let publicDir = ''
  return {
    name: 'parley-service-worker',
    apply: 'build',
    configResolved(config) {
      publicDir = config.publicDir
    },
    async generateBundle(_options, bundle) {
      const built = Object.keys(bundle).filter(name => name !== 'index.html' && !name.endsWith('.map'))
      const copied = publicDir ? await readdir(publicDir).catch(() => []) : []
      const precache = ['/', ...[...built, ...copied].map(name => `/${name}`)]
      const version = createHash('sha256').update(precache.join('\n')).digest('hex').slice(0, 12)
      const source = (await readFile(SOURCE, 'utf8'))
        .replace("'__PRECACHE__'", JSON.stringify(JSON.stringify(precache)))
        .replace("'__VERSION__'", JSON.stringify(version))
      const { code } = await transformWithEsbuild(source, SOURCE, { loader: 'ts', format: 'esm', target: 'es2022', minify: true })
      this.emitFile({ type: 'asset', fileName: 'sw.js', source: code })
    },
  }
}
