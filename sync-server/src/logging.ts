/**
 * The server's logger: fastify's pino, as JSON lines (for log collectors; the default
 * when stdout is not a terminal) or as short readable lines (`--log-format pretty`, the
 * default on a terminal). Requests are logged once each, at debug: a quick start is not
 * a wall of request lines at the default level.
 *
 * No credential reaches a log line at any level (issue 13, item 11): a request is logged
 * through one serializer that keeps its method, path and query with any `token` value
 * replaced, and never its headers (Authorization, Cookie).
 */
import { LogController, type FastifyInstance, type FastifyRequest } from 'fastify'
import { EOL } from 'node:os'

export type LogFormat = 'json' | 'pretty'
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty']

/** Query parameters whose values are credentials. */
const SECRET_PARAMS = new Set(['token', 'access_token', 'jwt'])
export const REDACTED = '[redacted]'

/** The URL with every credential-bearing query value replaced by `[redacted]`. */
export function redactUrl(url: string): string {
  const query = url.indexOf('?')
  if (query < 0) return url
  const params = url
    .slice(query + 1)
    .split('&')
    .map(pair => {
      const equals = pair.indexOf('=')
      const name = equals < 0 ? pair : pair.slice(0, equals)
      let decoded = name
      try {
        decoded = decodeURIComponent(name.replace(/\+/g, ' '))
      } catch {
        // A malformed escape: compare the raw name.
      }
      return SECRET_PARAMS.has(decoded.toLowerCase()) ? `${name}=${REDACTED}` : pair
    })
  return `${url.slice(0, query)}?${params.join('&')}`
}

// A type, not an interface: fastify's serializer type wants an index signature.
type LoggedRequest = {
  method: string
  url: string
  remoteAddress?: string
}

/** The only shape a request takes in a log line: no headers, no credentials. */
function serializeRequest(request: FastifyRequest | { method?: string; url?: string; ip?: string; socket?: { remoteAddress?: string } }): LoggedRequest {
  return {
    method: String(request.method),
    url: redactUrl(String(request.url ?? '')),
    remoteAddress: (request as FastifyRequest).ip ?? request.socket?.remoteAddress,
  }
}

export interface LoggerSetup {
  level: string
  format: LogFormat
  /** Where lines go; default stdout. */
  destination?: { write(chunk: string): unknown; isTTY?: boolean }
}

/** The `logger` option for Fastify(). */
export function loggerOptions({ level, format, destination }: LoggerSetup) {
  return {
    level,
    serializers: { req: serializeRequest },
    // Belt and braces: should a request object or headers be logged by hand elsewhere.
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie', 'token'], censor: REDACTED },
    // JSON to stdout: pino's own fast destination, as before.
    ...(format === 'pretty' ? { stream: prettyStream(destination ?? process.stdout) } : destination ? { stream: destination } : {}),
  }
}

/** Fastify's own two info lines per request ("incoming request", "request completed") are off. */
export function requestLogController(): LogController {
  return new LogController({ disableRequestLogging: true })
}

/** Logs each request once, at debug, when its response is sent. */
export function logRequests(app: FastifyInstance): void {
  app.addHook('onResponse', async (request, reply) => {
    request.log.debug({ req: request, statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request')
  })
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }
const COLOURS: Record<number, string> = { 10: '90', 20: '90', 30: '32', 40: '33', 50: '31', 60: '35' }
/** pino's own fields, shown in the line's prefix or not at all. */
const OMITTED = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'v', 'err', 'reqId'])

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0')
}

function value(field: unknown): string {
  if (typeof field === 'string') return /[\s"=]/.test(field) || field === '' ? JSON.stringify(field) : field
  return JSON.stringify(field)
}

/** One JSON log line as `12:00:01.234 WARN  message key=value …`, and an error's stack below it. */
export function prettyLine(json: string, colour = false): string {
  let entry: Record<string, unknown>
  try {
    entry = JSON.parse(json) as Record<string, unknown>
  } catch {
    return json.trimEnd()
  }
  const level = typeof entry.level === 'number' ? entry.level : 30
  const time = new Date(typeof entry.time === 'number' ? entry.time : Date.now())
  const clock = `${pad(time.getHours())}:${pad(time.getMinutes())}:${pad(time.getSeconds())}.${pad(time.getMilliseconds(), 3)}`
  const name = (LEVELS[level] ?? String(level)).padEnd(5)
  const label = colour ? `\u001b[${COLOURS[level] ?? '0'}m${name}\u001b[0m` : name
  const req = entry.req as LoggedRequest | undefined
  const fields = Object.entries(entry)
    .filter(([key]) => !OMITTED.has(key) && key !== 'req')
    .map(([key, field]) => `${key}=${value(field)}`)
  const parts = [clock, label, req ? `${req.method} ${req.url}` : '', String(entry.msg ?? ''), ...fields].filter(Boolean)
  const err = entry.err as { message?: string; stack?: string } | undefined
  const stack = err ? `${EOL}    ${(err.stack ?? err.message ?? '').split('\n').join(`${EOL}    `)}` : ''
  return `${parts.join(' ')}${stack}`
}

/** A pino destination that writes each line readably. */
export function prettyStream(destination: { write(chunk: string): unknown; isTTY?: boolean }): { write(chunk: string): void } {
  const colour = destination.isTTY === true && !process.env.NO_COLOR
  return {
    write(chunk: string) {
      for (const line of chunk.split('\n')) if (line.trim() !== '') destination.write(`${prettyLine(line, colour)}${EOL}`)
    },
  }
}
