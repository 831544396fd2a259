/** An in-process server on a free port with a temp data directory, for tests. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { mintToken } from './auth/tokens.ts'
import { createParleyServer, type ParleyServer } from './server.ts'

export interface TestServer {
  server: ParleyServer
  /** `ws://127.0.0.1:PORT/sync` */
  url: string
  httpUrl: string
  secret: string
  dataDir: string
  token(user: string, ttl?: string): Promise<string>
  close(): Promise<void>
}

export async function startTestServer(options: { dataDir?: string; maxFrameBytes?: number; keepAliveMs?: number } = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'parley-server-')))
  const secret = 'test-secret-that-is-long-enough'
  const server = await createParleyServer({ port: 0, dataDir, jwtSecret: secret, logLevel: 'silent', maxFrameBytes: options.maxFrameBytes, keepAliveMs: options.keepAliveMs })
  const url = await server.listen()
  return {
    server,
    url,
    httpUrl: url.replace(/^ws/, 'http').replace(/\/sync$/, ''),
    secret,
    dataDir,
    token: (user, ttl) => mintToken(secret, user, { ttl }),
    async close() {
      await server.close()
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true })
    },
  }
}
