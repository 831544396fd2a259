import { isValidUserId } from '@parley/core'
import { BLOB_DEFAULTS, BLOB_OPTIONAL, checkBlobOptions, type BlobOptions } from './blobs/options.ts'
import { ParleyError, ServerErrorCodes } from './errors.ts'
import { resolvePushOptions, type PushOptions, type ResolvedPushOptions } from './push/options.ts'

/** With the attachment options (blobs/options.ts: blob store, S3, size limit, quota). */
export interface ServerOptions extends BlobOptions {
  host?: string
  port?: number
  /** Directory for LevelDB and the development secret. */
  dataDir?: string
  /** HS256 secret. Without any token option a development secret is generated under dataDir. */
  jwtSecret?: string
  /** PEM text of an RSA (RS256) or Ed25519 (EdDSA) public key tokens are verified with. */
  jwtPublicKey?: string
  /** URL of a JSON Web Key Set tokens are verified with (fetched and cached). */
  jwksUrl?: string
  /** When set, tokens must carry this `aud`. */
  jwtAudience?: string
  /** When set, tokens must carry this `iss`. */
  jwtIssuer?: string
  /** When set, tokens must carry `exp` and live at most this many seconds (`exp - iat`, or `exp` from now); unset, a token without `exp` is accepted until the key changes. */
  maxTokenLifetimeSeconds?: number
  /** Where to POST notifications of messages for members with no connected device. */
  webhookUrl?: string
  /** HMAC-SHA256 key the notifications are signed with (required with webhookUrl). */
  webhookSecret?: string
  /** Web Push to the devices of members with no device connected (docs/push.md); on by default, `false` turns it off. */
  push?: PushOptions | false
  /** Keys the event IDs of HTTP publishes with an idempotencyKey; give every node of a cluster the same (default: generated under dataDir). */
  idempotencySecret?: string
  /** PEM certificate chain and private key: serve https/wss. Both or neither. */
  tlsCert?: string
  tlsKey?: string
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** JSON lines (default), or short readable lines for a terminal (the CLI's default on a TTY). */
  logFormat?: 'json' | 'pretty'
  /** Largest WebSocket frame accepted, in bytes (default 4 MiB; close 4413 beyond). */
  maxFrameBytes?: number
  /** Largest message or edit text, in UTF-8 bytes (default 16 KiB; close 4413 beyond). */
  maxTextBytes?: number
  /**
   * Messages per second one user may send on average, over all their connections: one bucket per user
   * (default 200; close 4429 beyond). A message takes one token; a sync message's changes take one more per
   * 128 rows and per 16 KiB they decode to (network/rate-limit.ts `workTokens`): a chat line costs 1, a
   * message at the decode budget 289.
   */
  messagesPerSecond?: number
  /** Tokens (messages) one user may spend at once over all their connections, e.g. catching up after a reconnect (default 2,000). */
  messageBurst?: number
  /** Bytes waiting to be sent to a connection before it counts as not reading (default 16 MiB; close 4408). */
  maxBufferedBytes?: number
  /** Open connections per user (default 32) and per client IP (default 256); HTTP 429 beyond. */
  maxConnectionsPerUser?: number
  maxConnectionsPerIp?: number
  /** Bytes a client may send along with its upgrade request, before its token is verified (default 64 KiB). */
  maxPreAuthBytes?: number
  /** Ping interval; a client that misses a pong is disconnected (default 30 s). */
  keepAliveMs?: number
  /** `redis://HOST:PORT`: join the cluster of nodes on this Redis pub/sub bus (docs/cluster.md). */
  redis?: string
  /**
   * `postgres://USER@HOST:PORT/DB`: keep the documents (automerge-repo storage), the
   * access registry, the event index and the webhook queue in this PostgreSQL database,
   * shared by every node given it, instead of LevelDB under the data directory; its
   * schema is migrated at start (storage/postgres/, docs/cluster.md "PostgreSQL").
   */
  postgres?: string
  /** How often a cluster node says it is alive; one silent for five beats is dropped (default 1 s). */
  clusterHeartbeatMs?: number
  /**
   * Serve segment documents from the relay core (relay/hub.ts: a change log per segment, no
   * automerge-repo document on the hot path) instead of the repo. The default on a single
   * node, and in a cluster whose nodes share PostgreSQL (`redis` and `postgres`): segment
   * changes then cross nodes by interest on one Redis channel per conversation
   * (cluster/change-bus.ts, docs/cluster.md "Segments over the bus"); `false` keeps them on
   * the repo path there. With `redis` alone it is off, and `true` is refused: a node could
   * not reload what it missed.
   */
  relayCore?: boolean
  /** Loaded documents beyond which the least recently used idle ones are saved and unloaded (default 10,000; 0: no cap). */
  maxLoadedDocuments?: number
  /** A document unused this long is saved and unloaded (default 5 min; 0: only the cap unloads). */
  documentIdleMs?: number
  /** While storage refuses writes (disk full), how often to check whether it takes them again (default 1 s). */
  storageRetryMs?: number
  /** Bytes of writes held in memory while storage refuses them; beyond, writes fail (default 256 MiB). */
  maxHeldWriteBytes?: number
  /** Free bytes under the data directory below which the server reports itself not ready (default 8 MiB). */
  minFreeBytes?: number
  /** `amqp://…` (RabbitMQ) or `nats://…` (NATS JetStream): take messages from this broker into conversations (docs/ingest.md). */
  ingest?: string
  /** The queue (RabbitMQ) or stream and consumer (NATS) ingest reads; dead letters go to `<name>.dead` / `<name>-dead` (default parley-ingest). */
  ingestName?: string
  /** Messages ingest holds unacknowledged at once (default 16). */
  ingestPrefetch?: number
  /** The user `"system": true` messages are written as; it must be a member like any author (default system). */
  ingestSystemUser?: string
  /** `amqp://…` or `nats://…`: publish every event this node numbers to the exchange `<ingestName>.events` or the stream `<ingestName>-events` (docs/ingest.md). */
  publishEvents?: string
  /** A word list file (one entry per line): messages holding an entry are rejected or flagged (docs/moderation.md). */
  moderationWords?: string
  /** An operator's endpoint asked about every message: allow, flag or reject (docs/moderation.md). */
  moderationHook?: string
  /** How long the hook may take to answer (default 2 s). */
  moderationHookTimeoutMs?: number
  /** The decision while the hook is down or answers nonsense (default `allow`: the word list still applies). */
  moderationHookDefault?: 'allow' | 'flag' | 'reject'
}

const OPTIONAL = ['jwtSecret', 'jwtPublicKey', 'jwksUrl', 'jwtAudience', 'jwtIssuer', 'maxTokenLifetimeSeconds', 'tlsCert', 'tlsKey', 'webhookUrl', 'webhookSecret', 'idempotencySecret', 'redis', 'postgres', 'moderationWords', 'moderationHook', 'ingest', ...BLOB_OPTIONAL, 'publishEvents', 'push'] as const
type Optional = (typeof OPTIONAL)[number]

export type ResolvedServerOptions = Readonly<Required<Omit<ServerOptions, Optional>> & Pick<ServerOptions, Exclude<Optional, 'push'>> & { push: ResolvedPushOptions | false }>

const DEFAULTS = {
  host: '127.0.0.1',
  port: 8787,
  dataDir: './data',
  logLevel: 'info',
  logFormat: 'json',
  maxFrameBytes: 4 * 1024 * 1024,
  maxTextBytes: 16 * 1024,
  messagesPerSecond: 200,
  messageBurst: 2000,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxConnectionsPerUser: 32,
  maxConnectionsPerIp: 256,
  maxPreAuthBytes: 64 * 1024,
  keepAliveMs: 30_000,
  clusterHeartbeatMs: 1000,
  relayCore: true,
  maxLoadedDocuments: 10_000,
  documentIdleMs: 300_000,
  storageRetryMs: 1000,
  maxHeldWriteBytes: 256 * 1024 * 1024,
  minFreeBytes: 8 * 1024 * 1024,
  ingestName: 'parley-ingest',
  ingestPrefetch: 16,
  ingestSystemUser: 'system',
  moderationHookTimeoutMs: 2000,
  moderationHookDefault: 'allow',
  ...BLOB_DEFAULTS,
} as const

/** Integer options and their smallest sensible value. */
const MINIMUMS: Partial<Record<keyof typeof DEFAULTS, number>> = {
  maxFrameBytes: 1024,
  maxTextBytes: 1,
  messagesPerSecond: 1,
  messageBurst: 1,
  maxBufferedBytes: 1024,
  maxConnectionsPerUser: 1,
  maxConnectionsPerIp: 1,
  maxPreAuthBytes: 0,
  keepAliveMs: 100,
  clusterHeartbeatMs: 10,
  maxLoadedDocuments: 0,
  documentIdleMs: 0,
  storageRetryMs: 10,
  maxHeldWriteBytes: 0,
  minFreeBytes: 0,
  ingestPrefetch: 1,
  moderationHookTimeoutMs: 10,
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

function invalid(message: string): never {
  throw new ParleyError(ServerErrorCodes.INVALID_OPTION, message)
}

/** Validates options once: defaults filled, unknown keys rejected, result frozen. */
export function resolveServerOptions(options: ServerOptions): ResolvedServerOptions {
  for (const key of Object.keys(options)) if (!(key in DEFAULTS) && !OPTIONAL.includes(key as Optional)) invalid(`unknown option ${key}`)
  const resolved = { ...DEFAULTS, ...stripUndefined(options) }
  if (!Number.isInteger(resolved.port) || resolved.port < 0 || resolved.port > 65_535) invalid(`port must be 0–65535, got ${resolved.port}`)
  if (!LOG_LEVELS.includes(resolved.logLevel)) invalid(`log level must be one of ${LOG_LEVELS.join(', ')}`)
  if (resolved.logFormat !== 'json' && resolved.logFormat !== 'pretty') invalid(`log format must be json or pretty, got ${JSON.stringify(resolved.logFormat)}`)
  for (const [key, minimum] of Object.entries(MINIMUMS)) {
    const value = resolved[key as keyof typeof MINIMUMS] as number
    if (!Number.isInteger(value) || value < minimum) invalid(`${key} must be an integer ≥ ${minimum}, got ${value}`)
  }
  const maxLifetime = resolved.maxTokenLifetimeSeconds
  if (maxLifetime !== undefined && !(Number.isInteger(maxLifetime) && maxLifetime >= 1)) invalid(`maxTokenLifetimeSeconds must be an integer ≥ 1 (seconds), got ${maxLifetime}`)
  if (resolved.jwtSecret !== undefined && resolved.jwtSecret.length < 16) invalid('the JWT secret must be at least 16 characters')
  const keySources = [resolved.jwtSecret, resolved.jwtPublicKey, resolved.jwksUrl].filter(source => source !== undefined)
  if (keySources.length > 1) invalid('give one of jwtSecret, jwtPublicKey or jwksUrl, not several')
  if ((resolved.tlsCert === undefined) !== (resolved.tlsKey === undefined)) invalid('TLS needs both a certificate and a key')
  if (resolved.redis !== undefined && !/^rediss?:\/\/[^/\s]+/.test(resolved.redis)) invalid(`redis must be a URL like redis://HOST:PORT, got ${JSON.stringify(resolved.redis)}`)
  if (resolved.postgres !== undefined && !/^postgres(ql)?:\/\/[^\s]+$/.test(resolved.postgres)) invalid(`postgres must be a URL like postgres://USER@HOST:5432/DATABASE, got ${JSON.stringify(resolved.postgres)}`)
  if (typeof resolved.relayCore !== 'boolean') invalid(`relayCore must be true or false, got ${JSON.stringify(resolved.relayCore)}`)
  if (resolved.redis !== undefined && resolved.postgres === undefined && options.relayCore === true) invalid('the relay core (relayCore, --relay-core) cannot be combined with redis (--redis) alone: in a cluster it needs the nodes to share PostgreSQL (postgres, --postgres)')
  if (resolved.webhookUrl !== undefined && (resolved.webhookSecret ?? '').length < 16) invalid('webhooks need a webhook secret of at least 16 characters (--webhook-secret)')
  if (resolved.moderationHook !== undefined && !/^https?:\/\/\S+$/.test(resolved.moderationHook)) invalid(`moderationHook must be an http(s) URL, got ${JSON.stringify(resolved.moderationHook)}`)
  if (!['allow', 'flag', 'reject'].includes(resolved.moderationHookDefault)) invalid(`moderationHookDefault must be allow, flag or reject, got ${JSON.stringify(resolved.moderationHookDefault)}`)
  if (resolved.idempotencySecret !== undefined && resolved.idempotencySecret.length < 16) invalid('the idempotency secret must be at least 16 characters (--idempotency-secret)')
  checkIngest(resolved)
  checkBlobOptions(resolved)
  // A cluster without shared storage keeps segments on the repo path (asking for the relay core there is refused above).
  const relayCore = resolved.redis !== undefined && resolved.postgres === undefined ? false : resolved.relayCore
  const push = resolved.push === false ? false : resolvePushOptions(resolved.push ?? {})
  return Object.freeze({ ...resolved, relayCore, push }) as ResolvedServerOptions
}

/** The ingest options (ingest/, docs/ingest.md). */
function checkIngest({ ingest, ingestName, ingestPrefetch, ingestSystemUser, publishEvents }: { ingest?: string; ingestName: string; ingestPrefetch: number; ingestSystemUser: string; publishEvents?: string }): void {
  if (ingest !== undefined && !/^(amqps?|nats|tls):\/\/[^\s]+$/i.test(ingest)) invalid('ingest must be a URL like amqp://USER:PASSWORD@HOST:5672/VHOST or nats://HOST:4222')
  if (publishEvents !== undefined && !/^(amqps?|nats|tls):\/\/[^\s]+$/i.test(publishEvents)) invalid('publishEvents must be a URL like amqp://USER:PASSWORD@HOST:5672/VHOST or nats://HOST:4222')
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(ingestName)) invalid(`ingestName must be 1 to 100 letters, digits, - or _ (a queue and a stream name), got ${JSON.stringify(ingestName)}`)
  if (ingestPrefetch > 1000) invalid(`ingestPrefetch must be at most 1000, got ${ingestPrefetch}`)
  if (!isValidUserId(ingestSystemUser)) invalid(`ingestSystemUser must be a valid user ID, got ${JSON.stringify(ingestSystemUser)}`)
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>
}
