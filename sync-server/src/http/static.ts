/**
 * Serves the built web app (clients/web/dist) at `/`, so one `npm start` gives a working
 * product. Only `/`, `/index.html`, the hashed `/assets/*` and the files at the top of the
 * build are served; every other path keeps its JSON 404. The server imports nothing of
 * the client: it reads a folder, and serves nothing when the folder is missing.
 */
import type { FastifyInstance, FastifyReply } from 'fastify'
import { readdir, readFile, stat } from 'node:fs/promises'
import { extname, join, normalize, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Where `npm run build -w clients/web` writes the app, from this file. */
export const DEFAULT_WEB_DIR = fileURLToPath(new URL('../../../clients/web/dist/', import.meta.url))

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    info => info.isDirectory(),
    () => false,
  )
}

function notFound(reply: FastifyReply): FastifyReply {
  reply.callNotFound()
  return reply
}

async function sendFile(reply: FastifyReply, path: string, cache: string): Promise<FastifyReply> {
  const body = await readFile(path).catch(() => undefined)
  if (!body) return notFound(reply)
  return reply
    .header('content-type', TYPES[extname(path)] ?? 'application/octet-stream')
    .header('cache-control', cache)
    .header('x-content-type-options', 'nosniff')
    .send(body)
}

/**
 * Registers the web app's routes when `dir` holds a build (an `index.html`); returns
 * whether it did. Hashed assets are cached for ever; everything else is revalidated, so
 * a new build reaches browsers (and the app's service worker) at once.
 */
export async function serveWebApp(app: FastifyInstance, dir: string = DEFAULT_WEB_DIR): Promise<boolean> {
  if (!(await stat(join(dir, 'index.html')).catch(() => undefined))) return false
  const hide = { schema: { hide: true } }
  const fresh = 'no-cache'
  app.get('/', hide, (_request, reply) => sendFile(reply, join(dir, 'index.html'), fresh))
  const assets = join(dir, 'assets')
  if (await isDirectory(assets)) {
    app.get<{ Params: { '*': string } }>('/assets/*', hide, (request, reply) => {
      const path = normalize(join(assets, request.params['*']))
      if (!path.startsWith(assets + sep)) return notFound(reply)
      return sendFile(reply, path, 'public, max-age=31536000, immutable')
    })
  }
  // Top-level files (index.html, the service worker, icons): known at start-up, one route each.
  // A build running right now may have emptied the folder: then there is less to serve.
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (entry.isFile()) app.get(`/${entry.name}`, hide, (_request, reply) => sendFile(reply, join(dir, entry.name), fresh))
  }
  return true
}
