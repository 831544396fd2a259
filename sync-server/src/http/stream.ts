/**
 * Server-sent events for one conversation (the backlog after the cursor, then each event
 * as the server stores it) and the long poll's wait. `id:` is the server sequence, so a
 * client that reconnects with `Last-Event-ID` resumes exactly where it stopped. Idle
 * streams cost a listener and two timers, nothing else.
 *
 * A stream follows its conversation (EventIndex.follow): in a cluster the node listens on
 * the conversation's channel while the stream is open, so events other nodes number reach
 * it too (docs/cluster.md, "HTTP streams").
 *
 * Every way a stream ends (the client leaves, its socket fails, it stops reading, the
 * member is removed, the token expires, the backlog cannot be read, the server closes)
 * goes through one `finish`, which removes the listener and the timers at once, not when
 * the socket finally closes: nothing is ever written after the end, and an error on the
 * response is handled here, never left to reach the process (docs/security.md, "Streams").
 */
import type { FastifyReply } from 'fastify'
import type { ServerResponse } from 'node:http'
import { ServerErrorCodes } from '../errors.ts'
import type { EventIndex, SequencedEvent } from '../events/event-index.ts'
import { timerAt } from '../timer-at.ts'
import type { Closing } from './closing.ts'

const HEARTBEAT_MS = 25_000
const BACKLOG_PAGE = 500
/** After the closing `end` event, how long a client may take to read it before the socket is cut. */
const END_GRACE_MS = 10_000
/** When the server shuts down, how long a client may take to read what was written before its socket is cut. */
const SHUTDOWN_GRACE_MS = 1000

/** Why the server ended a stream: sent as the data of a last `event: end`. */
export interface StreamEnd {
  code: string
  message: string
}

export const TOKEN_EXPIRED: StreamEnd = { code: ServerErrorCodes.UNAUTHENTICATED, message: 'token expired' }
const NOT_A_MEMBER: StreamEnd = { code: ServerErrorCodes.FORBIDDEN, message: 'no longer a member of this conversation' }
const FAILED: StreamEnd = { code: ServerErrorCodes.INTERNAL, message: 'the event stream failed; reconnect with Last-Event-ID' }

export interface StreamOptions {
  index: EventIndex
  conversationId: string
  after: number
  /** Checked before each delivery: a member removed meanwhile gets nothing more, and the stream ends. */
  stillMember: () => boolean | Promise<boolean>
  /** The token's expiry (ms since the epoch): the stream ends then. */
  expiresAt?: number
  /** Bytes waiting to be sent beyond which a client counts as not reading: the socket is cut. */
  maxBufferedBytes: number
  /**
   * When the server begins to close, the stream ends with what was written and no
   * `end` event, so a client reconnects with Last-Event-ID (to another node, or to this
   * one once it is back), and the shutdown does not wait for the client to leave.
   */
  closing: Closing
}

// One helper for every token-expiry timer (streams, polls, sync connections).
export { timerAt }

export function streamEvents(reply: FastifyReply, options: StreamOptions): void {
  const { index, conversationId, stillMember, expiresAt, maxBufferedBytes, closing } = options
  reply.hijack()
  const out = reply.raw
  // Kept: the response lets go of its socket once it has ended.
  const socket = out.socket
  const log = reply.log
  let cursor = options.after
  let ended = false
  let grace: NodeJS.Timeout | undefined
  /** Ends this stream's hold on the conversation's live events (EventIndex.follow). */
  let unfollow: (() => void) | undefined

  /**
   * `end`: say why and end after what was already written; `closing`: end after what was
   * written, saying nothing (the server shuts down); `cut`: destroy the socket now;
   * `gone`: the socket closed.
   */
  const finish = (how: { end: StreamEnd } | { cut: string } | 'closing' | 'gone'): void => {
    if (ended) return
    ended = true
    clearInterval(heartbeat)
    expiry?.cancel()
    index.off('stored', onStored)
    stopClosing()
    unfollow?.()
    if (how === 'gone') return
    if (how !== 'closing' && 'cut' in how) {
      log.info({ conversationId, reason: how.cut }, 'event stream cut')
      return void out.destroy()
    }
    // `Connection: close`: the socket closes once these last bytes are read.
    out.end(how === 'closing' ? undefined : `event: end\ndata: ${JSON.stringify(how.end)}\n\n`)
    // A client that never reads them does not keep the socket (and what waits in it) for good.
    grace = setTimeout(() => socket?.destroy(), how === 'closing' ? SHUTDOWN_GRACE_MS : END_GRACE_MS)
    grace.unref()
  }

  const write = (text: string): void => {
    if (ended) return
    out.write(text)
    if (out.writableLength > maxBufferedBytes) finish({ cut: `more than ${maxBufferedBytes} bytes waiting to be read` })
  }

  const deliver = async (events: SequencedEvent[]): Promise<void> => {
    if (ended || !events.some(({ seq }) => seq > cursor)) return
    const member = await stillMember()
    if (ended) return
    if (!member) return finish({ end: NOT_A_MEMBER })
    for (const { seq, event } of events) {
      if (seq <= cursor) continue
      cursor = seq
      write(`id: ${seq}\nevent: event\ndata: ${JSON.stringify({ seq, ...event })}\n\n`)
    }
  }

  // Deliveries run one after another, in the order they were queued: the backlog first,
  // then what was stored meanwhile (events at or before the cursor are skipped).
  let deliveries = Promise.resolve()
  const enqueue = (task: () => Promise<void>): void => {
    deliveries = deliveries.then(task).catch(error => {
      log.warn({ err: error, conversationId }, 'event stream failed')
      finish({ end: FAILED })
    })
  }
  const onStored = (id: string, events: SequencedEvent[]): void => {
    if (id === conversationId && !ended) enqueue(() => deliver(events))
  }

  const heartbeat = setInterval(() => write(': keep-alive\n\n'), HEARTBEAT_MS)
  const expiry = expiresAt === undefined ? undefined : timerAt(expiresAt, () => finish({ end: TOKEN_EXPIRED }))
  index.on('stored', onStored)
  const stopClosing = closing.onClose(() => finish('closing'))
  out.on('close', () => finish('gone'))
  socket?.once('close', () => clearTimeout(grace))
  // Reset sockets, writes the peer refused: handled here, logged, never thrown.
  out.on('error', error => {
    log.debug({ err: error, conversationId }, 'event stream error')
    finish({ cut: 'socket error' })
  })
  // The client may have left while the route checked membership: then 'close' came already.
  if (out.destroyed) return finish('gone')
  if (closing.closed) return finish({ cut: 'server shutting down' })

  out.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'close', 'X-Accel-Buffering': 'no' })
  write(': stream open\n\n')
  enqueue(async () => {
    // In a cluster, this node hears the conversation while the stream is open.
    const release = await index.follow(conversationId)
    if (ended) return release()
    unfollow = release
    for (;;) {
      const page = await index.page(conversationId, { after: cursor }, BACKLOG_PAGE)
      await deliver(page.events)
      if (page.events.length < BACKLOG_PAGE || ended) return
    }
  })
}

export interface WaitOptions {
  index: EventIndex
  conversationId: string
  after: number
  waitMs: number
  /** The token's expiry (ms since the epoch): the wait ends then. */
  expiresAt?: number
  /** The wait ends when the server begins to close. */
  closing: Closing
}

/**
 * A long poll's wait for an event after `after`: `stored` when one was, `deadline` when
 * `waitMs` passed first, `expired` when the token expired first, `gone` when the client
 * left, `closing` when the server began to shut down. Its listeners and timers go on
 * every one of those paths.
 */
export async function waitForEvents(out: ServerResponse, { index, conversationId, after, waitMs, expiresAt, closing }: WaitOptions): Promise<'stored' | 'deadline' | 'expired' | 'gone' | 'closing'> {
  if (out.destroyed) return 'gone'
  if (closing.closed) return 'closing'
  const stop = new AbortController()
  let outcome: 'expired' | 'gone' | 'closing' | undefined
  const end = (why: 'expired' | 'gone' | 'closing'): void => {
    outcome ??= why
    stop.abort()
  }
  const onClose = (): void => end('gone')
  out.once('close', onClose)
  const stopClosing = closing.onClose(() => end('closing'))
  const expiry = expiresAt === undefined ? undefined : timerAt(expiresAt, () => end('expired'))
  try {
    const arrived = await index.waitFor(conversationId, after, waitMs, stop.signal)
    return outcome ?? (arrived ? 'stored' : 'deadline')
  } finally {
    out.off('close', onClose)
    stopClosing()
    expiry?.cancel()
  }
}
