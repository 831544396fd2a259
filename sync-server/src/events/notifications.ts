/**
 * Notifications of numbered events (webhooks, Web Push) at least once, across a crash.
 *
 * Numbering an event and queueing its notifications are writes to different places (the
 * event store, the queues), so a node that dies between them used to leave the event
 * numbered and nothing queued. Now the numbering lists the events it numbers as "not
 * notified" in the same write (`EventStore.append` with `notify`: one LevelDB batch, or
 * the one PostgreSQL statement that numbers them), and this module takes them off once
 * every handler has queued what it has to (`notified`, batched: one write per `flushMs`
 * for everything queued meanwhile, never one per message). What stays listed longer than
 * `graceMs` (its node died, or a handler failed, e.g. while PostgreSQL was down) is claimed
 * by a periodic look (`claimUnnotified`, every `scanMs`, by every node sharing the store)
 * and handed to the handlers again.
 *
 * A handler may so see an event twice (its node died after queueing, before the list
 * was written; or it took longer than the grace period): handlers queue under keys that
 * depend on the event alone (webhooks/offline-members.ts, push/offline-devices.ts), so a
 * queue holds one notification per key and a receiver deduplicates on it.
 */
import type { EventIndex, EventStore, SequencedEvent, UnnotifiedEvent } from './event-index.ts'

/** Queues whatever a conversation's newly numbered events call for; rejects when it could not. */
export type NotificationHandler = (conversationId: string, events: readonly SequencedEvent[]) => Promise<void>

export interface NotificationsOptions {
  /** How long an event may stay listed before any node takes it over (ms); default 10 s. */
  readonly graceMs?: number
  /** How often events whose notifications are queued are taken off the list (ms); default 1 s. */
  readonly flushMs?: number
  /** How often the list is looked at for events left over (ms); default 5 s. */
  readonly scanMs?: number
  /** Events claimed per look; default 500. */
  readonly batch?: number
  readonly log: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void }
}

export class Notifications {
  readonly #index: Pick<EventIndex, 'on' | 'off'>
  readonly #store: Pick<EventStore, 'claimUnnotified' | 'notified'>
  readonly #handlers: NotificationHandler[] = []
  readonly #options: Required<Omit<NotificationsOptions, 'log'>> & Pick<NotificationsOptions, 'log'>
  /** Events whose notifications are queued, to take off the list at the next flush. */
  #done: { conversationId: string; seq: number }[] = []
  readonly #running = new Set<Promise<void>>()
  #flushTimer: NodeJS.Timeout | undefined
  #scanTimer: NodeJS.Timeout | undefined
  #flushing: Promise<void> | undefined
  /** The look under way, if any. */
  #scanning: Promise<unknown> | undefined
  #started = false
  #closed = false
  readonly #onNumbered = (conversationId: string, events: SequencedEvent[]): void => this.#handle(conversationId, events, 'numbered')

  constructor(index: Pick<EventIndex, 'on' | 'off'>, store: Pick<EventStore, 'claimUnnotified' | 'notified'>, options: NotificationsOptions) {
    this.#index = index
    this.#store = store
    this.#options = { graceMs: 10_000, flushMs: 1000, scanMs: 5000, batch: 500, ...options }
  }

  /** A handler for every event numbered from `start` on, and every event left over. */
  add(handler: NotificationHandler): void {
    this.#handlers.push(handler)
  }

  /**
   * Hands what is numbered from now on to the handlers, and starts looking for what was
   * left over (at once, then every `scanMs`). Until then numbered events stay listed and
   * are found by the first look after their grace period.
   */
  start(): void {
    if (this.#started || this.#closed) return
    this.#started = true
    this.#index.on('numbered', this.#onNumbered)
    this.#flushTimer = setInterval(() => void this.#flush(), this.#options.flushMs)
    this.#flushTimer.unref()
    this.#scanTimer = setInterval(() => void (this.#scanning ?? this.scan()), this.#options.scanMs)
    this.#scanTimer.unref()
    void this.scan()
  }

  /**
   * One look for events left over: claims those listed for `graceMs` or more and hands
   * them to the handlers, a page at a time. Resolves with how many were claimed (after a
   * look already under way, if any).
   */
  async scan(): Promise<number> {
    await this.#scanning
    if (this.#closed || this.#handlers.length === 0) return 0
    const look = this.#look()
    const running = (this.#scanning = look)
    try {
      return await look
    } finally {
      if (this.#scanning === running) this.#scanning = undefined
    }
  }

  async #look(): Promise<number> {
    let claimed = 0
    try {
      for (;;) {
        const events = await this.#store.claimUnnotified(this.#options.graceMs, this.#options.batch)
        claimed += events.length
        for (const [conversationId, group] of byConversation(events)) this.#handle(conversationId, group, 'left over')
        if (events.length < this.#options.batch || this.#closed) break
      }
      if (claimed > 0) this.#options.log.info({ events: claimed }, 'queueing notifications of events numbered but not notified (a node stopped, or queueing failed)')
    } catch (error) {
      this.#options.log.warn({ err: error }, 'could not look for events not notified yet; looking again later')
    }
    return claimed
  }

  /** Resolves once the handlers started so far have settled and what they queued is off the list. */
  async idle(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running])
    await this.#flush()
  }

  /** Stops taking events; waits for the handlers running and takes what they queued off the list. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#index.off('numbered', this.#onNumbered)
    clearInterval(this.#flushTimer)
    clearInterval(this.#scanTimer)
    await this.idle()
  }

  #handle(conversationId: string, events: readonly SequencedEvent[], origin: 'numbered' | 'left over'): void {
    if (events.length === 0) return
    const run = Promise.all(this.#handlers.map(handler => handler(conversationId, events))).then(
      () => void this.#done.push(...events.map(({ seq }) => ({ conversationId, seq }))),
      // Left listed: the next look after the grace period hands them over again.
      error => this.#options.log.warn({ err: error, conversationId, seqs: events.map(({ seq }) => seq), origin }, 'could not queue notifications; they are tried again later'),
    )
    this.#running.add(run)
    void run.finally(() => this.#running.delete(run))
  }

  /** Takes what was queued off the list, in one write; on failure it stays to be written with the next flush. */
  #flush(): Promise<void> {
    if (this.#flushing) return this.#flushing
    if (this.#done.length === 0) return Promise.resolve()
    this.#flushing = this.#writeDone().finally(() => (this.#flushing = undefined))
    return this.#flushing
  }

  async #writeDone(): Promise<void> {
    while (this.#done.length > 0) {
      const done = this.#done
      this.#done = []
      try {
        await this.#store.notified(done)
      } catch (error) {
        this.#done.unshift(...done)
        this.#options.log.warn({ err: error, events: done.length }, 'could not take notified events off the list; trying again')
        return
      }
    }
  }
}

function byConversation(events: readonly UnnotifiedEvent[]): Map<string, SequencedEvent[]> {
  const groups = new Map<string, SequencedEvent[]>()
  for (const { conversationId, seq, event } of events) {
    let group = groups.get(conversationId)
    if (!group) groups.set(conversationId, (group = []))
    group.push({ seq, event })
  }
  return groups
}
