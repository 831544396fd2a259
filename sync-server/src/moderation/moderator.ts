/**
 * Moderation off the delivery path: every message or edit, once accepted, relayed and
 * numbered, is judged by the content policy; a `flag` or `reject`
 * verdict makes the server append its own `moderated` event to the conversation
 * (conversations/service.ts appendAsServer) and index the decision for operators
 * (store.ts). The message itself stays in the log, and its writer's change was accepted
 * long before: a device that wrote it offline is never left retrying it.
 *
 * The events come from events/notifications.ts, at least once: the numbering lists each
 * event as not done in the same write, and it is taken off once its review is done (the
 * decision written and indexed, or none called for). A node killed in between leaves it
 * listed, and the next node to look (or this one restarted) reviews it; a review of an
 * event already decided finds the decision (store.ts) and writes nothing. The store is
 * this node's and is written after the event, so a review may still find nothing there
 * (killed in between, another node decided, the store was lost): the server's decision is
 * written under an ID derived from the judged event and the decision
 * (conversations/idempotency.ts serverEventId), so writing it again finds the event
 * written first, which is then indexed, and the conversation gets one `moderated` event
 * per judged event and decision. (Two nodes judging the same event at once may each append
 * it to the log; replicas keep one of events sharing an ID and the event index numbers it
 * once.) An operator's decisions are new events each time: allowing, then rejecting again,
 * is two decisions.
 *
 * Reviews wait in a bounded queue (MAX_QUEUED; beyond it an event is refused, left listed
 * and handed over again later, and logged) and run CONCURRENCY at a time, so a slow hook
 * holds up no delivery.
 */
import type { ModerationDecision, ParleyEvent } from '@parley/core'
import type { FastifyBaseLogger } from 'fastify'
import { ParleyError, ServerErrorCodes } from '../errors.ts'
import type { EventIndex, SequencedEvent } from '../events/event-index.ts'
import type { Notifications } from '../events/notifications.ts'
import { judgedText, type ContentPolicy, type Verdict } from './policy.ts'
import type { ModerationRecord, ModerationStore } from './store.ts'

export const MAX_QUEUED = 10_000
const CONCURRENCY = 4
const DECIDED: Record<Exclude<Verdict['decision'], 'allow'>, ModerationDecision> = { reject: 'rejected', flag: 'flagged' }

export interface ModeratorContext {
  policy: ContentPolicy
  store: ModerationStore
  index: EventIndex
  /** Hands over what is numbered, at least once (events/notifications.ts). */
  notifications: Pick<Notifications, 'add'>
  /** Appends an event as the server (ConversationService.appendAsServer); with `key`, once per key and conversation. */
  write: (conversationId: string, body: { type: 'moderated'; target: string; decision: ModerationDecision; reason: string; edit?: string }, after?: number, key?: string) => Promise<SequencedEvent>
  log: FastifyBaseLogger
}

interface Review {
  conversationId: string
  event: ParleyEvent
  settle: (error?: Error) => void
}

export class Moderator {
  readonly #ctx: ModeratorContext
  readonly #queue: Review[] = []
  #running = 0
  #closed = false
  #dropped = 0
  readonly #idle = new Set<() => void>()

  constructor(ctx: ModeratorContext) {
    this.#ctx = ctx
    ctx.notifications.add((conversationId, events) => this.review(conversationId, events))
  }

  /**
   * Reviews numbered events; resolves once every review is done, rejects when one failed or
   * was refused (queue full, closing): the caller hands them over again later.
   */
  async review(conversationId: string, events: readonly SequencedEvent[]): Promise<void> {
    // Messages and edits only: the server's own `moderated` events carry no text. Not skipped by
    // author: a user whose name is MODERATION_AUTHOR's is judged like anyone.
    const reviews = events.filter(({ event }) => judgedText(event) !== undefined).map(({ event }) => new Promise<void>((resolve, reject) => this.#enqueue({ conversationId, event, settle: error => (error ? reject(error) : resolve()) })))
    const results = await Promise.allSettled(reviews)
    const failed = results.find(result => result.status === 'rejected')
    if (failed) throw failed.reason
  }

  /** Reviews waiting or running, and those refused because the queue was full (reviewed later). */
  stats(): { queued: number; running: number; dropped: number } {
    return { queued: this.#queue.length, running: this.#running, dropped: this.#dropped }
  }

  /** Resolves once no review waits or runs. */
  whenIdle(): Promise<void> {
    if (this.#queue.length === 0 && this.#running === 0) return Promise.resolve()
    return new Promise(resolve => this.#idle.add(resolve))
  }

  /** Stops taking events (refused from now on: reviewed after the next start) and waits for the reviews already queued. */
  async close(): Promise<void> {
    this.#closed = true
    await this.whenIdle()
  }

  /**
   * An operator's decision about a message (or one edit of it) of a conversation: appended
   * as a `moderated` event like the server's own; `allowed` reverses an earlier decision.
   */
  async decide(by: string, conversationId: string, target: string, decision: ModerationDecision, reason: string, edit?: string): Promise<ModerationRecord> {
    const judged = await this.#find(conversationId, edit ?? target)
    const isTarget = judged && (edit === undefined ? judged.type === 'message' : judged.type === 'edit' && judged.target === target)
    if (!judged || !isTarget) throw new ParleyError(ServerErrorCodes.NOT_FOUND, `no ${edit === undefined ? 'message' : 'edit'} ${edit ?? target} in conversation ${conversationId}`)
    // The latest decision in the total order counts: this one must sort after the one it replaces.
    const previous = await this.#ctx.store.get(conversationId, target, edit)
    const replaced = previous && (await this.#find(conversationId, previous.eventId))
    return this.#record(conversationId, judged, { decision, reason, source: 'admin', by }, replaced?.at)
  }

  #enqueue(review: Review): void {
    if (this.#closed) return review.settle(new Error('moderation is closing: the event is reviewed after the next start'))
    if (this.#queue.length >= MAX_QUEUED) {
      this.#dropped++
      this.#ctx.log.warn({ conversationId: review.conversationId, eventId: review.event.id }, 'moderation queue full: event reviewed later')
      return review.settle(new Error('moderation queue full'))
    }
    this.#queue.push(review)
    this.#next()
  }

  #next(): void {
    while (this.#running < CONCURRENCY && this.#queue.length > 0) {
      const review = this.#queue.shift()!
      this.#running++
      void this.#review(review)
        .then(
          () => review.settle(),
          error => {
            this.#ctx.log.error({ err: error, conversationId: review.conversationId, eventId: review.event.id }, 'moderation review failed; tried again later')
            review.settle(error as Error)
          },
        )
        .finally(() => {
          this.#running--
          this.#next()
          if (this.#queue.length > 0 || this.#running > 0) return
          for (const resolve of this.#idle) resolve()
          this.#idle.clear()
        })
    }
  }

  async #review({ conversationId, event }: Review): Promise<void> {
    const { policy } = this.#ctx
    const verdict = policy.recall(conversationId, event.author, judgedText(event)!) ?? (await policy.judge(conversationId, event))
    if (verdict.decision === 'allow') return
    // Decided before (events numbered again after their index was rebuilt): the log has it already.
    const edit = event.type === 'edit' ? event.id : undefined
    if (await this.#ctx.store.get(conversationId, event.type === 'edit' ? event.target : event.id, edit)) return
    const decision = DECIDED[verdict.decision]
    // Once per judged event and decision, whichever review (or node) writes it first.
    const key = JSON.stringify(['moderated', event.type === 'edit' ? event.target : event.id, edit ?? '', decision])
    await this.#record(conversationId, event, { decision, reason: verdict.reason, source: verdict.source, ...(verdict.entry !== undefined && { entry: verdict.entry }) }, undefined, key)
  }

  /** Appends the decision about `judged` (a message or an edit), once per `key` if given, and indexes it. */
  async #record(conversationId: string, judged: ParleyEvent, decision: Pick<ModerationRecord, 'decision' | 'reason' | 'source' | 'entry' | 'by'>, after?: number, key?: string): Promise<ModerationRecord> {
    const target = judged.type === 'edit' ? judged.target : judged.id
    const edit = judged.type === 'edit' ? judged.id : undefined
    const written = await this.#ctx.write(conversationId, { type: 'moderated', target, decision: decision.decision, reason: decision.reason, ...(edit !== undefined && { edit }) }, after, key)
    const record: ModerationRecord = {
      conversationId,
      target,
      ...(edit !== undefined && { edit }),
      author: judged.author,
      text: judgedText(judged) ?? '',
      ...decision,
      eventId: written.event.id,
      seq: written.seq,
      decidedAt: Date.now(),
    }
    await this.#ctx.store.put(record)
    this.#ctx.log.info({ conversationId, target, edit, decision: record.decision, source: record.source }, 'moderation decision')
    return record
  }

  /** An event of the conversation by ID, from the event index. */
  async #find(conversationId: string, eventId: string): Promise<ParleyEvent | undefined> {
    const seq = await this.#ctx.index.seqOf(conversationId, eventId)
    if (seq === undefined) return undefined
    return (await this.#ctx.index.page(conversationId, { after: seq - 1 }, 1)).events[0]?.event
  }
}
