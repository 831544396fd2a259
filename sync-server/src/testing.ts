/** An in-process server on a free port with a temp data directory, for tests. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { mintToken } from './auth/tokens.ts'
import type { ServerOptions } from './config.ts'
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

/** Any server option may be overridden; the token helpers assume the default HS256 secret. */
export async function startTestServer(options: ServerOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'parley-server-')))
  const secret = 'test-secret-that-is-long-enough'
  // PARLEY_RELAY_CORE=0 runs a suite with segments on the repo path (config.ts relayCore), as the CLI reads it.
  const relayCore = process.env.PARLEY_RELAY_CORE === '0' ? { relayCore: false } : {}
  const server = await createParleyServer({ port: 0, jwtSecret: secret, logLevel: 'silent', ...relayCore, ...options, dataDir })
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

/**
 * Stops a stock automerge-repo WebSocketClientAdapter for good. Its `disconnect()` leaves a
 * reconnect timer armed by an earlier close (the server closing it with 4403 or 4413), and
 * its error handler throws anything but ECONNREFUSED: a reconnect that later met another
 * test's server on the same port answered 401 and crashed the test run with an uncaught
 * "Unexpected server response: 401".
 */
export function stopStockAdapter(adapter: { connect: (...args: never[]) => void; disconnect(): void }): void {
  adapter.connect = () => {}
  try {
    adapter.disconnect()
  } catch {
    // never connected: nothing to close
  }
}

export { automergeChunk, uleb } from './chunk-builders.ts'
export { RawClient, withTimeout, type Closed, type SyncEndpoint } from './raw-client.ts'
export { RedisProcess } from './cluster/redis-process.ts'
export { createTestDatabase, postgresBinDir, type PostgresTestDatabase } from './storage/postgres/test-database.ts'
export { reapOnExit, REAPER_NAME, untilReady } from './child-reaper.ts'
export { ResilientDatabase, type ReopenableLevel, type StorageStatus } from './storage/resilient-database.ts'
