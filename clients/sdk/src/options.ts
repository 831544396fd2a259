import { DEFAULT_LIMITS, SEGMENT_SIZE, type Limits } from '@parley/core'
import { ClientErrorCodes, ParleyError } from './errors.ts'
import { DEFAULT_BACKOFF, type BackoffOptions } from './network/backoff.ts'
import { syncUrl } from './network/url.ts'
import type { StorageOption } from './storage.ts'
import type { TokenSource } from './token.ts'
import { DEFAULT_BLOB_CACHE_BYTES } from './attachments/index.ts'
import { DEFAULT_READ_CURSOR_INTERVAL_MS } from './read-cursor.ts'

export interface ClientOptions {
  /**
   * `ws://HOST:PORT`, `wss://…`, the full `…/sync` URL, or `http(s)://`. Leave out for an
   * offline-only client. Several URLs (the nodes of a cluster): the client connects to one
   * and moves on to the next, with backoff, whenever a connection fails or drops.
   */
  server?: string | readonly string[]
  /** A JWT, or a function returning a fresh one before each connection attempt. */
  token: TokenSource
  /** Where the local replica lives. Default: memory. */
  storage?: StorageOption
  /** Messages a conversation shows when opened, and `loadOlder`'s default. Default 50. */
  pageSize?: number
  /** Events per segment document. Default SEGMENT_SIZE (1,000). */
  segmentSize?: number
  /**
   * How often `markRead` changes a conversation's head at most (ms): moves within it wait,
   * and the newest is written at its end (this device counts from it at once). Each change
   * costs the server and every member a sync round. Default 2,000; 0: every move at once.
   */
  readCursorIntervalMs?: number
  limits?: Partial<Limits>
  reconnect?: Partial<BackoffOptions> & { stableAfterMs?: number }
  /** Bytes of received files kept on the device (docs/attachments.md). Default 256 MiB; files not yet uploaded come on top. */
  maxFileCacheBytes?: number
}

export interface ResolvedOptions {
  /** The first of `servers`. */
  server: string | undefined
  /** Every sync URL, in the order they are tried. */
  servers: readonly string[]
  token: TokenSource
  storage: StorageOption
  pageSize: number
  segmentSize: number
  readCursorIntervalMs: number
  limits: Limits
  reconnect: BackoffOptions & { stableAfterMs: number }
  maxFileCacheBytes: number
}

const KNOWN = new Set(['server', 'token', 'storage', 'pageSize', 'segmentSize', 'readCursorIntervalMs', 'limits', 'reconnect', 'maxFileCacheBytes'])

function invalid(message: string): never {
  throw new ParleyError(ClientErrorCodes.INVALID_OPTION, message)
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value <= 0) invalid(`${name} must be a positive integer`)
  return value
}

function nonNegativeInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < 0) invalid(`${name} must be a non-negative integer`)
  return value
}

function serverList(server: ClientOptions['server']): readonly string[] {
  if (server === undefined) return []
  if (typeof server === 'string') return [server]
  if (!Array.isArray(server) || server.length === 0) invalid('server must be a URL or a non-empty list of URLs')
  return server
}

/** Validates options once, fills defaults, and freezes the result. */
export function resolveOptions(options: ClientOptions): Readonly<ResolvedOptions> {
  for (const key of Object.keys(options)) if (!KNOWN.has(key)) invalid(`unknown option ${key}`)
  if (typeof options.token !== 'string' && typeof options.token !== 'function') invalid('token must be a string or a function')
  const storage = options.storage ?? { kind: 'memory' }
  if (!['memory', 'level', 'indexeddb', 'custom'].includes(storage.kind)) invalid(`unknown storage kind ${String(storage.kind)}`)
  if (storage.kind === 'level' && typeof storage.dir !== 'string') invalid('storage.dir is required for level storage')
  const reconnect = { ...DEFAULT_BACKOFF, stableAfterMs: 5_000, ...options.reconnect }
  if (reconnect.minMs <= 0 || reconnect.maxMs < reconnect.minMs) invalid('reconnect needs 0 < minMs <= maxMs')
  const servers = Object.freeze(serverList(options.server).map(syncUrl))
  return Object.freeze({
    server: servers[0],
    servers,
    token: options.token,
    storage,
    pageSize: positiveInteger('pageSize', options.pageSize, 50),
    segmentSize: positiveInteger('segmentSize', options.segmentSize, SEGMENT_SIZE),
    readCursorIntervalMs: nonNegativeInteger('readCursorIntervalMs', options.readCursorIntervalMs, DEFAULT_READ_CURSOR_INTERVAL_MS),
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    reconnect,
    maxFileCacheBytes: positiveInteger('maxFileCacheBytes', options.maxFileCacheBytes, DEFAULT_BLOB_CACHE_BYTES),
  })
}
