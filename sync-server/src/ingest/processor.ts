/**
 * What one broker message becomes: an event stored (ack), a dead letter (it can never be
 * applied: ack after the dead letter is accepted), or a retry (storage or the server is
 * not able now: nack, redelivered later). The broker adapters (amqp.ts, nats.ts) only
 * carry these outcomes out.
 *
 * Messages of one conversation are applied one after another in delivery order, and
 * once one of them is to be retried, those queued behind it are retried too: applying
 * them first would put them before it in the conversation.
 */
import { isParleyError } from '../errors.ts'
import { isRefusal, parseIngestMessage, type DeadReason, type IngestMessage, type Priority } from './message.ts'

/** What ingest needs of the server (server.ts builds it over conversations/service.ts). */
export interface IngestTarget {
  /** Whether a conversation with this ID exists (the access registry knows its head). */
  conversationExists(conversationId: string): Promise<boolean>
  /** HTTP publish's path: the same membership check, limits and idempotency keys. */
  publish(user: string, conversationId: string, body: { text: string; priority?: Priority; idempotencyKey: string }): Promise<{ seq: number; event: { id: string } }>
  /** False while storage holds writes in memory (a full disk: storage/resilient-database.ts). */
  writable(): boolean
}

export type Outcome =
  | { readonly kind: 'stored'; readonly conversation: string; readonly seq: number; readonly eventId: string }
  | { readonly kind: 'dead'; readonly reason: DeadReason; readonly detail: string; readonly conversation?: string }
  | { readonly kind: 'retry'; readonly detail: string; readonly error?: unknown }

export interface ProcessorOptions {
  readonly target: IngestTarget
  readonly maxBytes: number
  readonly systemUser: string
}

/** Error codes from publish that no redelivery can change, and the dead letter's reason. */
const PERMANENT: ReadonlyMap<string, DeadReason> = new Map([
  ['PARLEY_ERR_FORBIDDEN', 'not-member'],
  ['PARLEY_ERR_BAD_REQUEST', 'conflict'],
  ['PARLEY_ERR_TEXT_TOO_LARGE', 'too-large'],
  ['PARLEY_ERR_TOO_LARGE', 'too-large'],
  ['PARLEY_ERR_INVALID_EVENT', 'invalid'],
  // The content policy (moderation/publish-check.ts) rejected the text.
  ['PARLEY_ERR_CONTENT_REJECTED', 'refused'],
])

export class IngestProcessor {
  readonly #options: ProcessorOptions
  /** The last message queued per conversation; an entry goes when it settles, so at most one per message in flight (the prefetch). */
  readonly #tails = new Map<string, Promise<Outcome>>()

  constructor(options: ProcessorOptions) {
    this.#options = options
  }

  /** Messages in flight, by conversation (for tests and the bound it documents). */
  get conversationsInFlight(): number {
    return this.#tails.size
  }

  /** Call in delivery order: the order of calls is the order within each conversation. */
  process(bytes: Uint8Array, brokerId?: string): Promise<Outcome> {
    const parsed = parseIngestMessage(bytes, { maxBytes: this.#options.maxBytes, systemUser: this.#options.systemUser, ...(brokerId !== undefined && { brokerId }) })
    if (isRefusal(parsed)) return Promise.resolve({ kind: 'dead', ...parsed })
    const previous = this.#tails.get(parsed.conversation)
    const outcome = (previous ?? Promise.resolve(undefined)).then(before =>
      before?.kind === 'retry' ? ({ kind: 'retry', detail: 'an earlier message of this conversation is to be retried first' } as const) : this.#apply(parsed),
    )
    this.#tails.set(parsed.conversation, outcome)
    void outcome.then(() => {
      if (this.#tails.get(parsed.conversation) === outcome) this.#tails.delete(parsed.conversation)
    })
    return outcome
  }

  async #apply(message: IngestMessage): Promise<Outcome> {
    const { target } = this.#options
    const { conversation } = message
    if (!target.writable()) return { kind: 'retry', detail: 'storage is not taking writes' }
    try {
      if (!(await target.conversationExists(conversation))) return { kind: 'dead', reason: 'unknown-conversation', detail: `no conversation ${conversation}`, conversation }
      const { seq, event } = await target.publish(message.sender, conversation, {
        text: message.text,
        ...(message.priority !== undefined && { priority: message.priority }),
        idempotencyKey: message.idempotencyKey,
      })
      // Held in memory, not on disk: a crash now would lose it. The redelivery finds it by its key.
      if (!target.writable()) return { kind: 'retry', detail: 'storage is holding writes in memory' }
      return { kind: 'stored', conversation, seq, eventId: event.id }
    } catch (error) {
      const reason = isParleyError(error) ? PERMANENT.get(error.code) : undefined
      if (reason !== undefined) return { kind: 'dead', reason, detail: (error as Error).message, conversation }
      return { kind: 'retry', detail: (error as Error).message, error }
    }
  }
}
