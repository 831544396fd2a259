/**
 * Reading numbers back again after news. Another node publishes a change before its events
 * are numbered, and numbers them within SETTLE_MS of the frame or publishes it again
 * (relay/bus-outbox.ts), so the news may come before the numbers are there to read. After
 * the latest news of a conversation the index reads again a few milliseconds later (when a
 * numbering usually is done), and SETTLE_MS later: one of them comes after the numbers.
 */
import { SETTLE_MS } from '../relay/bus.ts'

/** When to read again, after the latest news (ms). */
export const RECHECK_MS: readonly number[] = [5, 50, SETTLE_MS]

export class NewsRechecks {
  readonly #delays: readonly number[]
  readonly #read: (conversationId: string) => void
  /** Per conversation with a read to come: when its latest news came (performance.now()) and the timer. */
  readonly #pending = new Map<string, { last: number; timer: ReturnType<typeof setTimeout> }>()

  constructor(read: (conversationId: string) => void, delays: readonly number[] = RECHECK_MS) {
    this.#read = read
    this.#delays = delays
  }

  /** News of the conversation: reads follow at each delay after it (news during the wait moves the later ones). */
  news(conversationId: string): void {
    if (this.#delays.length === 0) return
    const now = performance.now()
    const pending = this.#pending.get(conversationId)
    if (pending) return void (pending.last = now)
    this.#pending.set(conversationId, { last: now, timer: this.#at(conversationId, now + this.#delays[0]!) })
  }

  /** No more reads for the conversation (its last waiter left). */
  stop(conversationId: string): void {
    clearTimeout(this.#pending.get(conversationId)?.timer)
    this.#pending.delete(conversationId)
  }

  close(): void {
    for (const conversationId of [...this.#pending.keys()]) this.stop(conversationId)
  }

  #at(conversationId: string, time: number): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => {
      const pending = this.#pending.get(conversationId)
      if (!pending) return
      const now = performance.now()
      const next = this.#delays.map(delay => pending.last + delay).find(due => due > now)
      if (next === undefined) this.#pending.delete(conversationId)
      else pending.timer = this.#at(conversationId, next)
      this.#read(conversationId)
    }, Math.max(0, time - performance.now()))
    timer.unref()
    return timer
  }
}
