/**
 * Work owed to every numbered event, at least once across a crash: notifications (webhooks,
 * Web Push), moderation's review (moderation/moderator.ts) and publishing to a broker
 * (ingest/outbound.ts, --publish-events).
 *
 * Numbering an event and doing that work are writes to different places (the event store,
 * the queues, the broker), so a node that dies between them used to leave the event
 * numbered and its work undone. Now the numbering lists the events it numbers as "not
 * notified" in the same write (`EventStore.append` with `notify`: one LevelDB batch, or
 * the one PostgreSQL statement that numbers them), and this module takes them off once
 * every handler has done (or durably queued) its part (`notified`, batched: one write per
 * `flushMs` for everything done meanwhile, never one per message). What stays listed longer
 * than `graceMs` (its node died, or a handler failed, e.g. while PostgreSQL or the broker was
 * down) is claimed by a periodic look (`claimUnnotified`, every `scanMs`, by every node
 * sharing the store) and handed to the handlers again, a page at a time: a page a handler
 * failed on ends the look, so an outage costs one page per look, not the whole list.
 *
 * One list serves every handler, so this node remembers which handlers are done with an
 * event still listed (a bounded map): handing it over again skips them, and skips a handler
 * still working on it. A handler may still see an event twice (its node died after the
 * work, before the list was written; or this node forgot, past the bound): handlers work
 * under keys that depend on the event alone (webhooks/offline-members.ts,
 * push/offline-devices.ts; the broker message ID `conversation:seq`; a moderation decision
 * looked up before it is written), so a receiver deduplicates on them.
 */
import type { EventIndex, EventStore, SequencedEvent, UnnotifiedEvent } from './event-index.ts'

/**
 * Does (or durably queues) whatever a conversation's newly numbered events call for;
 * resolves once it is done, rejects when it could not (the events are handed over again later).
 */
export type NotificationHandler = (conversationId: string, events: readonly SequencedEvent[]) => Promise<void>

/** Events listed and partly done remembered per node; past it the oldest are forgotten (handed to every handler again). */
export const MAX_REMEMBERED = 50_000

/** An event handed to the handlers and not done by all: bit i of `done` / `running` is handler i. */
interface Progress {
  done: number
  running: number
}

const progressKey = (conversationId: string, seq: number): string => `${seq}\n${conversationId}`

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
  /** Events handed over and not done by every handler yet (bounded: MAX_REMEMBERED of those not running). */
  readonly #progress = new Map<string, Progress>()
  #flushTimer: NodeJS.Timeout | undefined
  #scanTimer: NodeJS.Timeout | undefined
  #flushing: Promise<void> | undefined
  /** The look under way, if any. */
  #scanning: Promise<unknown> | undefined
  #started = false
  #closed = false
  readonly #onNumbered = (conversationId: string, events: SequencedEvent[]): void => void this.#handle(conversationId, events, 'numbered')

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
        const handled = Promise.all([...byConversation(events)].map(([conversationId, group]) => this.#handle(conversationId, group, 'left over'))).then(results => !results.includes(false))
        // A handler failed, or is still at it after the grace period (its queue or broker is
        // away): the rest waits for the next look, the page's handlers go on meanwhile.
        if (events.length < this.#options.batch || this.#closed || !(await settledWithin(handled, Math.max(1000, this.#options.graceMs)))) break
      }
      if (claimed > 0) this.#options.log.info({ events: claimed }, 'handing over events numbered but not notified (a node stopped, or a handler failed)')
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

  /**
   * Hands the events to each handler not done with them and not working on them already;
   * resolves with false when a handler failed. An event done by every handler is taken off
   * the list at the next flush; one a handler failed on stays listed, handed over again later.
   */
  #handle(conversationId: string, events: readonly SequencedEvent[], origin: 'numbered' | 'left over'): Promise<boolean> {
    if (events.length === 0) return Promise.resolve(true)
    const all = (1 << this.#handlers.length) - 1
    const progress = events.map(sequenced => {
      const key = progressKey(conversationId, sequenced.seq)
      let entry = this.#progress.get(key)
      if (!entry) this.#progress.set(key, (entry = { done: 0, running: 0 }))
      return { sequenced, seq: sequenced.seq, key, entry }
    })
    const settle = (): void => {
      for (const { seq, key, entry } of progress) {
        if (entry.running !== 0 || this.#progress.get(key) !== entry) continue
        if (entry.done === all) this.#done.push({ conversationId, seq })
        if (entry.done === all || entry.done === 0) this.#progress.delete(key)
      }
      this.#forgetOldest()
    }
    const runs = this.#handlers.map(async (handler, i) => {
      const bit = 1 << i
      const mine = progress.filter(({ entry }) => ((entry.done | entry.running) & bit) === 0)
      if (mine.length === 0) return
      for (const { entry } of mine) entry.running |= bit
      try {
        await handler(conversationId, mine.map(({ sequenced }) => sequenced))
        for (const { entry } of mine) entry.done |= bit
      } finally {
        for (const { entry } of mine) entry.running &= ~bit
      }
    })
    const run = Promise.allSettled(runs).then(results => {
      settle()
      const failed = results.find(result => result.status === 'rejected')
      // Left listed: the next look after the grace period hands them over again.
      if (failed) this.#options.log.warn({ err: failed.reason, conversationId, seqs: events.map(({ seq }) => seq), origin }, 'could not do the work numbered events call for (notify, moderate, publish); tried again later')
      return failed === undefined
    })
    const tracked = run.then(() => undefined)
    this.#running.add(tracked)
    void tracked.finally(() => this.#running.delete(tracked))
    return run
  }

  /** Past MAX_REMEMBERED, forgets the oldest partly done events no handler works on. */
  #forgetOldest(): void {
    if (this.#progress.size <= MAX_REMEMBERED) return
    for (const [key, entry] of this.#progress) {
      if (this.#progress.size <= MAX_REMEMBERED) break
      if (entry.running === 0) this.#progress.delete(key)
    }
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

/** `outcome`'s value if it settles within `ms`, else false. */
async function settledWithin(outcome: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<false>(resolve => (timer = setTimeout(() => resolve(false), ms)))
  try {
    return await Promise.race([outcome, late])
  } finally {
    clearTimeout(timer)
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
