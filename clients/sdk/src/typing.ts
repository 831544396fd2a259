/**
 * Typing indicators over automerge-repo ephemeral messages on the head document: never
 * stored, relayed by the server to the conversation's other connected peers. A sender
 * repeats "typing" at most every REPEAT_MS while the user types; receivers forget a
 * typist after EXPIRE_MS without news, so a crashed client does not type for ever.
 *
 * Sending a message ends its author's typing without a "stopped" of its own: receivers
 * forget a typist whose message arrives. Each ephemeral message costs the server a frame
 * in and one out per other member, as a message does. With "typing" and "stopped" at every
 * message, and each receiver's repo passing both back to the server (network/connection.ts
 * drops those now), `npm run bench:latency -- --only parleyTyping` counted 5.06 frames in
 * and 4.00 out per one-to-one message; now 2.06 and 3.00 (a message alone: 1.05 and 2.00).
 */
import type { DocHandle } from '@automerge/automerge-repo/slim'

const REPEAT_MS = 2_000
const EXPIRE_MS = 6_000

interface TypingMessage {
  type: 'typing'
  user: string
  typing: boolean
}

function isTypingMessage(value: unknown): value is TypingMessage {
  const message = value as TypingMessage
  return typeof message === 'object' && message !== null && message.type === 'typing' && typeof message.user === 'string' && typeof message.typing === 'boolean'
}

export class TypingTracker {
  readonly #handle: DocHandle<unknown>
  readonly #me: string
  readonly #onChange: (users: string[]) => void
  readonly #typists = new Map<string, ReturnType<typeof setTimeout>>()
  #lastSent = 0
  #typing = false

  constructor(handle: DocHandle<unknown>, me: string, onChange: (users: string[]) => void) {
    this.#handle = handle
    this.#me = me
    this.#onChange = onChange
    handle.on('ephemeral-message', this.#receive)
  }

  get users(): string[] {
    return [...this.#typists.keys()].sort()
  }

  set(typing: boolean): void {
    const now = Date.now()
    if (typing === this.#typing && (!typing || now - this.#lastSent < REPEAT_MS)) return
    this.#typing = typing
    this.#lastSent = now
    this.#handle.broadcast({ type: 'typing', user: this.#me, typing } satisfies TypingMessage)
  }

  /** This user sent a message: their typing ends, which receivers learn from the message itself. */
  sent(): void {
    this.#typing = false
  }

  /** A message of `user` arrived: they are not typing any more (see `sent`). */
  stopped(user: string): void {
    if (this.#typists.has(user)) this.#forget(user)
  }

  close(): void {
    this.#handle.off('ephemeral-message', this.#receive)
    for (const timer of this.#typists.values()) clearTimeout(timer)
    this.#typists.clear()
  }

  readonly #receive = ({ message }: { message: unknown }): void => {
    if (!isTypingMessage(message) || message.user === this.#me) return
    clearTimeout(this.#typists.get(message.user))
    const known = this.#typists.has(message.user)
    if (message.typing) {
      this.#typists.set(message.user, setTimeout(() => this.#forget(message.user), EXPIRE_MS))
      if (!known) this.#onChange(this.users)
    } else if (known) {
      this.#forget(message.user)
    }
  }

  #forget(user: string): void {
    clearTimeout(this.#typists.get(user))
    this.#typists.delete(user)
    this.#onChange(this.users)
  }
}
