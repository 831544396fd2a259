import { ParleyError, ServerErrorCodes } from './errors.ts'

export interface ServerOptions {
  host?: string
  port?: number
  /** Directory for LevelDB and the development secret. */
  dataDir?: string
  /** HS256 secret; without one a development secret is generated under dataDir. */
  jwtSecret?: string
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** Largest WebSocket frame accepted, in bytes (default 4 MiB). */
  maxFrameBytes?: number
  /** Ping interval; a client that misses a pong is disconnected (default 30 s). */
  keepAliveMs?: number
}

export type ResolvedServerOptions = Readonly<Required<Omit<ServerOptions, 'jwtSecret'>> & { jwtSecret: string | undefined }>

const DEFAULTS = {
  host: '127.0.0.1',
  port: 8787,
  dataDir: './data',
  logLevel: 'info',
  maxFrameBytes: 4 * 1024 * 1024,
  keepAliveMs: 30_000,
} as const

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

function invalid(message: string): never {
  throw new ParleyError(ServerErrorCodes.INVALID_OPTION, message)
}

/** Validates options once: defaults filled, unknown keys rejected, result frozen. */
export function resolveServerOptions(options: ServerOptions): ResolvedServerOptions {
  for (const key of Object.keys(options)) if (!(key in DEFAULTS) && key !== 'jwtSecret') invalid(`unknown option ${key}`)
  const resolved = { ...DEFAULTS, ...stripUndefined(options), jwtSecret: options.jwtSecret }
  if (!Number.isInteger(resolved.port) || resolved.port < 0 || resolved.port > 65_535) invalid(`port must be 0–65535, got ${resolved.port}`)
  if (!LOG_LEVELS.includes(resolved.logLevel)) invalid(`log level must be one of ${LOG_LEVELS.join(', ')}`)
  if (!Number.isInteger(resolved.maxFrameBytes) || resolved.maxFrameBytes < 1024) invalid('maxFrameBytes must be an integer ≥ 1024')
  if (!Number.isInteger(resolved.keepAliveMs) || resolved.keepAliveMs < 100) invalid('keepAliveMs must be an integer ≥ 100')
  if (resolved.jwtSecret !== undefined && resolved.jwtSecret.length < 16) invalid('the JWT secret must be at least 16 characters')
  return Object.freeze(resolved) as ResolvedServerOptions
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
