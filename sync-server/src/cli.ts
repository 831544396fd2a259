/**
 * `parley-server`: starts a sync server, mints a development token, or migrates a data
 * directory into PostgreSQL.
 * Every flag also reads from PARLEY_<FLAG> (e.g. PARLEY_PORT); flags win.
 */
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import { existingDevelopmentSecret } from './auth/dev-secret.ts'
import { mintToken, parseTtl } from './auth/tokens.ts'
import { isParleyError, ParleyError, ServerErrorCodes } from './errors.ts'
import { createParleyServer } from './server.ts'
import { migrateDataDirectory, type MigrationProgress, type MigrationSummary } from './storage/migrate.ts'

const USAGE = `Usage:
  parley-server [--host 127.0.0.1] [--port 8787] [--data ./data]
                [--jwt-secret S | --jwt-public-key FILE | --jwks-url URL]
                [--jwt-audience AUD] [--jwt-issuer ISS] [--max-token-lifetime 1h]
                [--tls-cert FILE --tls-key FILE]
                [--redis redis://HOST:PORT [--cluster-heartbeat-ms 1000]] [--idempotency-secret S]
                [--postgres postgres://USER@HOST:5432/DB]   (storage in PostgreSQL)
                [--webhook-url URL --webhook-secret S]
                [--vapid-public-key K --vapid-private-key K] [--vapid-subject mailto:…|https://…]
                [--push-text] [--no-push]   (Web Push, on by default; docs/push.md)
                [--ingest amqp://…|nats://… [--ingest-name parley-ingest]
                 [--ingest-prefetch 16] [--ingest-system-user system]]   (docs/ingest.md)
                [--publish-events amqp://…|nats://…]   (every event numbered, to a broker)
                [--moderation-words FILE] [--moderation-hook URL [--moderation-hook-timeout-ms 2000]
                 [--moderation-hook-default allow|flag|reject]]   (docs/moderation.md)
                [--blob-store s3://BUCKET[/PREFIX] [--s3-endpoint URL] [--s3-region R]
                 [--s3-access-key-id K --s3-secret-access-key S]]   (attachments; docs/attachments.md)
                [--max-blob-bytes 104857600] [--blob-quota-bytes 1073741824]
                [--log-level info] [--log-format pretty|json]
                [--max-frame-bytes 4194304] [--max-text-bytes 16384]
                [--messages-per-second 200] [--message-burst 2000]
                [--max-buffered-bytes 16777216]
                [--max-connections-per-user 32] [--max-connections-per-ip 256]
                [--max-loaded-docs 10000] [--doc-idle-ms 300000]
                [--storage-retry-ms 1000] [--min-free-bytes 8388608]
                [--no-relay-core]  (segments served by the automerge-repo Repo instead of
                                    the relay core's change logs; a cluster with --redis
                                    alone always does, one with --redis and --postgres
                                    serves them from the relay core unless given this)
  parley-server token <userId> [--ttl 1h] [--admin] [--data ./data] [--jwt-secret S]
  parley-server migrate --from ./data --to postgres://USER@HOST:5432/DB
                (copies a stopped single-node server's data directory into PostgreSQL,
                 resumable and verified; once complete, a run again from the same directory
                 is refused; docs/cluster.md "Moving up from one machine")

Every flag also reads from PARLEY_<FLAG>, e.g. PARLEY_PORT, PARLEY_JWT_SECRET, except
--data, which reads PARLEY_SERVER_DATA (PARLEY_DATA is the parley client's replica).
Without a secret, public key or JWKS URL the server generates a development secret
under the data directory; \`token\` signs with that secret and needs the --data of a
server that has run. Logs are readable lines on a terminal and JSON lines otherwise;
each HTTP request is logged at debug.`

/** Numeric limit flags and the server option each sets. */
const LIMIT_FLAGS = {
  'max-frame-bytes': 'maxFrameBytes',
  'max-text-bytes': 'maxTextBytes',
  'messages-per-second': 'messagesPerSecond',
  'message-burst': 'messageBurst',
  'max-buffered-bytes': 'maxBufferedBytes',
  'max-connections-per-user': 'maxConnectionsPerUser',
  'max-connections-per-ip': 'maxConnectionsPerIp',
  'max-loaded-docs': 'maxLoadedDocuments',
  'doc-idle-ms': 'documentIdleMs',
  'storage-retry-ms': 'storageRetryMs',
  'min-free-bytes': 'minFreeBytes',
  'cluster-heartbeat-ms': 'clusterHeartbeatMs',
  'ingest-prefetch': 'ingestPrefetch',
  'moderation-hook-timeout-ms': 'moderationHookTimeoutMs',
  'max-blob-bytes': 'maxBlobBytes',
  'blob-quota-bytes': 'blobQuotaBytes',
} as const

const FLAGS = {
  host: { type: 'string' },
  port: { type: 'string' },
  data: { type: 'string' },
  'jwt-secret': { type: 'string' },
  'jwt-public-key': { type: 'string' },
  'jwks-url': { type: 'string' },
  'jwt-audience': { type: 'string' },
  'jwt-issuer': { type: 'string' },
  'max-token-lifetime': { type: 'string' },
  'max-frame-bytes': { type: 'string' },
  'max-text-bytes': { type: 'string' },
  'messages-per-second': { type: 'string' },
  'message-burst': { type: 'string' },
  'max-buffered-bytes': { type: 'string' },
  'max-connections-per-user': { type: 'string' },
  'max-connections-per-ip': { type: 'string' },
  'max-loaded-docs': { type: 'string' },
  'doc-idle-ms': { type: 'string' },
  'storage-retry-ms': { type: 'string' },
  'min-free-bytes': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  redis: { type: 'string' },
  postgres: { type: 'string' },
  'cluster-heartbeat-ms': { type: 'string' },
  'relay-core': { type: 'boolean' },
  'no-relay-core': { type: 'boolean' },
  'webhook-url': { type: 'string' },
  'webhook-secret': { type: 'string' },
  'vapid-public-key': { type: 'string' },
  'vapid-private-key': { type: 'string' },
  'vapid-subject': { type: 'string' },
  'push-text': { type: 'boolean' },
  'no-push': { type: 'boolean' },
  'idempotency-secret': { type: 'string' },
  ingest: { type: 'string' },
  'ingest-name': { type: 'string' },
  'ingest-prefetch': { type: 'string' },
  'ingest-system-user': { type: 'string' },
  'publish-events': { type: 'string' },
  'moderation-words': { type: 'string' },
  'moderation-hook': { type: 'string' },
  'moderation-hook-timeout-ms': { type: 'string' },
  'moderation-hook-default': { type: 'string' },
  'blob-store': { type: 'string' },
  's3-endpoint': { type: 'string' },
  's3-region': { type: 'string' },
  's3-access-key-id': { type: 'string' },
  's3-secret-access-key': { type: 'string' },
  'max-blob-bytes': { type: 'string' },
  'blob-quota-bytes': { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  ttl: { type: 'string' },
  admin: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

class UsageError extends Error {}

type Flags = { [K in keyof typeof FLAGS]?: (typeof FLAGS)[K]['type'] extends 'boolean' ? boolean : string }

function readFlags(argv: string[], env: NodeJS.ProcessEnv): { flags: Flags; positionals: string[] } {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options: FLAGS, allowPositionals: true, strict: true })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  const flags: Flags = { ...parsed.values }
  for (const name of Object.keys(FLAGS) as (keyof typeof FLAGS)[]) {
    const fromEnv = env[envName(name)]
    if (flags[name] === undefined && fromEnv !== undefined && FLAGS[name].type === 'string') (flags as Record<string, string>)[name] = fromEnv
  }
  return { flags, positionals: parsed.positionals }
}

/**
 * The environment variable a flag reads. `--data` reads PARLEY_SERVER_DATA: PARLEY_DATA
 * is the `parley` client's replica, and the README's quick start exports it in the shell
 * where tokens are minted.
 */
function envName(flag: keyof typeof FLAGS): string {
  return flag === 'data' ? 'PARLEY_SERVER_DATA' : `PARLEY_${flag.toUpperCase().replace(/-/g, '_')}`
}

/** A boolean flag from the environment: 1/true/yes or 0/false/no (unset: undefined). */
function booleanEnv(name: string): boolean | undefined {
  const value = process.env[name]?.trim().toLowerCase()
  if (value === undefined || value === '') return undefined
  if (['1', 'true', 'yes'].includes(value)) return true
  if (['0', 'false', 'no'].includes(value)) return false
  return invalidFlag(`${name} must be 1, true, yes, 0, false or no, got ${JSON.stringify(process.env[name])}`)
}

function invalidFlag(message: string): never {
  throw new ParleyError(ServerErrorCodes.INVALID_OPTION, message)
}

/** A whole-number flag; the message names the flag and the value as given. */
function integerFlag(flag: keyof typeof FLAGS, value: string | undefined, range = ''): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d+$/.test(value.trim())) invalidFlag(`--${flag} (or ${envName(flag)}) must be a whole number${range}, got ${JSON.stringify(value)}`)
  return Number(value)
}

/**
 * The configured secret, or the development secret of a server that has run in the data
 * directory. Never a new one: a token signed with it would be refused by every server.
 */
async function secretFor(flags: Flags): Promise<string> {
  if (flags['jwt-secret'] !== undefined) return flags['jwt-secret']
  const dataDir = flags.data ?? './data'
  const existing = await existingDevelopmentSecret(dataDir)
  if (existing) return existing.secret
  return invalidFlag(
    `no server has run with data directory ${resolve(dataDir)} (it holds no dev-secret): pass the running server's data directory with --data DIR (or PARLEY_SERVER_DATA), or its secret with --jwt-secret`,
  )
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (argv[0] === 'migrate') return migrateCommand(argv.slice(1), env)
  let parsed
  try {
    parsed = readFlags(argv, env)
  } catch (error) {
    process.stderr.write(`parley-server: ${(error as Error).message}\n\n${USAGE}\n`)
    return 2
  }
  const { flags, positionals } = parsed
  if (flags.data === undefined && env.PARLEY_DATA !== undefined) {
    process.stderr.write(`parley-server: ignoring PARLEY_DATA (the parley client's replica); the server's data directory is --data or PARLEY_SERVER_DATA (now ./data)\n`)
  }
  if (flags.help) {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  if (positionals[0] === 'token') {
    if (positionals.length !== 2) {
      process.stderr.write(`parley-server token: expected exactly one <userId>\n\n${USAGE}\n`)
      return 2
    }
    process.stdout.write(`${await mintToken(await secretFor(flags), positionals[1]!, { ttl: flags.ttl ?? '1h', admin: flags.admin === true })}\n`)
    return 0
  }
  if (positionals.length > 0) {
    process.stderr.write(`parley-server: unknown command ${positionals[0]}\n\n${USAGE}\n`)
    return 2
  }
  return serve(flags)
}

const MIGRATE_FLAGS = { from: { type: 'string' }, to: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const

/** `parley-server migrate --from DIR --to URL` (or PARLEY_SERVER_DATA, PARLEY_POSTGRES): 0 when verified, 1 when not. */
async function migrateCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let values
  try {
    ;({ values } = parseArgs({ args: argv, options: MIGRATE_FLAGS, strict: true }))
  } catch (error) {
    process.stderr.write(`parley-server migrate: ${(error as Error).message}\n\n${USAGE}\n`)
    return 2
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  const from = values.from ?? env.PARLEY_SERVER_DATA
  const to = values.to ?? env.PARLEY_POSTGRES
  if (from === undefined || to === undefined) {
    process.stderr.write(`parley-server migrate: --from DIR (the stopped server's data directory) and --to postgres://… are both required\n\n${USAGE}\n`)
    return 2
  }
  const summary = await migrateDataDirectory({ from, to, onProgress: progressLines() })
  process.stderr.write(describeMigration(summary))
  return summary.verification.differences.length === 0 ? 0 : 1
}

/** Progress on stderr, a line at most every half second and one at the end of each count. */
function progressLines(): (progress: MigrationProgress) => void {
  let last = 0
  return ({ documents, events }) => {
    const now = Date.now()
    if (now - last < 500 && documents.done !== documents.total && events.done !== events.total) return
    last = now
    process.stderr.write(`migrate: documents ${documents.done}/${documents.total}, events ${events.done}/${events.total}\n`)
  }
}

/** What this run wrote (rows an earlier, interrupted run copied are not counted again), then the verification. */
function describeMigration(summary: MigrationSummary): string {
  const { registry, verification, completed } = summary
  const copied =
    `migrate: this run copied ${summary.chunksWritten} chunks of ${summary.documents} documents, ${summary.events} events of ${summary.conversations} conversations (numbers kept; ${summary.waiting} waiting for notification), ` +
    `${registry.entries} registry entries, ${registry.owners} actor owners, ${registry.hashes} accepted hashes, ${summary.webhooks} webhook notifications, ${summary.pushes} push notifications, ${summary.pushSubscriptions} push subscriptions\n`
  if (completed) {
    return (
      `${copied}migrate: verified: ${verification.documents} documents with the same heads, ${verification.conversations} conversations with the same event count and last seq\n` +
      `migrate: recorded as completed at ${completed.at.toISOString()}; a run again from this data directory into this database will be refused\n`
    )
  }
  const listed = verification.differences.slice(0, 20).map(line => `  ${line}\n`).join('')
  const more = verification.differences.length > 20 ? `  … and ${verification.differences.length - 20} more\n` : ''
  return `${copied}migrate: VERIFICATION FAILED: the target differs from the source in ${verification.differences.length} place(s):\n${listed}${more}`
}

/** Reads a file a flag names, with an error that names the flag. */
async function readFlagFile(flag: string, path: string | undefined): Promise<string | undefined> {
  if (path === undefined) return undefined
  try {
    return await readFile(path, 'utf8')
  } catch (cause) {
    throw new ParleyError(ServerErrorCodes.INVALID_OPTION, `--${flag}: cannot read ${path}: ${(cause as Error).message}`, { cause })
  }
}

async function serve(flags: Flags): Promise<number> {
  const limits = Object.fromEntries(
    Object.entries(LIMIT_FLAGS)
      .filter(([flag]) => flags[flag as keyof typeof LIMIT_FLAGS] !== undefined)
      .map(([flag, option]) => [option, integerFlag(flag as keyof typeof LIMIT_FLAGS, flags[flag as keyof typeof LIMIT_FLAGS])]),
  )
  const server = await createParleyServer({
    host: flags.host,
    port: integerFlag('port', flags.port, ' from 0 to 65535'),
    dataDir: flags.data,
    jwtSecret: flags['jwt-secret'],
    jwtPublicKey: await readFlagFile('jwt-public-key', flags['jwt-public-key']),
    jwksUrl: flags['jwks-url'],
    jwtAudience: flags['jwt-audience'],
    jwtIssuer: flags['jwt-issuer'],
    maxTokenLifetimeSeconds: flags['max-token-lifetime'] === undefined ? undefined : parseTtl(flags['max-token-lifetime'], '--max-token-lifetime'),
    tlsCert: await readFlagFile('tls-cert', flags['tls-cert']),
    tlsKey: await readFlagFile('tls-key', flags['tls-key']),
    webhookUrl: flags['webhook-url'],
    webhookSecret: flags['webhook-secret'],
    push: flags['no-push'] || booleanEnv('PARLEY_NO_PUSH')
      ? false
      : { vapidPublicKey: flags['vapid-public-key'], vapidPrivateKey: flags['vapid-private-key'], vapidSubject: flags['vapid-subject'], text: flags['push-text'] ?? booleanEnv('PARLEY_PUSH_TEXT') ?? false },
    idempotencySecret: flags['idempotency-secret'],
    ingest: flags.ingest,
    ingestName: flags['ingest-name'],
    ingestSystemUser: flags['ingest-system-user'],
    publishEvents: flags['publish-events'],
    moderationWords: flags['moderation-words'],
    moderationHook: flags['moderation-hook'],
    moderationHookDefault: flags['moderation-hook-default'] as never,
    redis: flags.redis,
    postgres: flags.postgres,
    blobStore: flags['blob-store'],
    s3Endpoint: flags['s3-endpoint'],
    s3Region: flags['s3-region'],
    s3AccessKeyId: flags['s3-access-key-id'],
    s3SecretAccessKey: flags['s3-secret-access-key'],
    relayCore: flags['no-relay-core'] ? false : (flags['relay-core'] ?? booleanEnv('PARLEY_RELAY_CORE')),
    logLevel: flags['log-level'] as never,
    // Readable on a terminal, JSON lines for whatever reads a pipe or a file.
    logFormat: (flags['log-format'] ?? (process.stdout.isTTY ? 'pretty' : 'json')) as never,
    ...limits,
  })
  // automerge-repo handles messages in promises it does not catch; one bad message must
  // not take every user's connection down with it.
  process.on('unhandledRejection', error => server.app.log.error({ err: error }, 'unhandled rejection'))
  // Handlers go in before the "listening" line: a supervisor may signal right after it.
  const stopped = new Promise<number>(resolve => {
    let stopping = false
    const stop = (signal: string) => {
      if (stopping) return resolve(1)
      stopping = true
      server.app.log.info({ signal }, 'shutting down: flushing storage')
      server.close().then(
        () => resolve(0),
        error => {
          server.app.log.error({ err: error }, 'shutdown failed')
          resolve(1)
        },
      )
    }
    process.on('SIGTERM', () => stop('SIGTERM'))
    process.on('SIGINT', () => stop('SIGINT'))
  })
  const url = await server.listen()
  process.stdout.write(`parley-server listening on ${url.replace(/^ws/, 'http').replace(/\/sync$/, '')} (sync: ${url})\n`)
  return stopped
}

export async function run(argv: string[]): Promise<void> {
  try {
    process.exitCode = await main(argv)
  } catch (error) {
    process.stderr.write(`parley-server: ${isParleyError(error) ? `${error.code}: ` : ''}${(error as Error).message}\n`)
    process.exitCode = isParleyError(error, ServerErrorCodes.INVALID_OPTION) ? 2 : 1
  }
  // Open handles (timers, sockets) must not keep a finished command alive.
  if (process.exitCode !== undefined) setImmediate(() => process.exit())
}
