/**
 * Acknowledgements held briefly. Every change the server forwards is answered by the
 * repo with a sync message saying our new heads and nothing more; sent at once, that is
 * one frame per received message for the server to read and take in (half the frames a
 * one-to-one message costs it, and in a busy group one per member per message). Held
 * for up to `delayMs`, the newest per document, it tells the server the same: a sync
 * message states the sender's whole position (heads, have, need), so a later one says
 * everything an earlier one did. Nothing waits on it: the server forwards new changes to
 * a peer whatever it last heard from it (relay/peer-sync.ts `canForward`), and the
 * receiver's app has the change before the answer is even generated.
 *
 * Only answers to the document just received are held, and only when they carry no
 * changes and ask for none; anything else for that document (our own changes, a `need`)
 * goes at once and makes the held one redundant.
 */
import { Automerge, type Message } from '@automerge/automerge-repo/slim'

/** How long an acknowledgement may wait, coalescing with the next ones (ms). */
export const DEFAULT_ACK_DELAY_MS = 50

/** A sync message that carries no changes and asks for none. */
export function isAcknowledgement(message: Message): boolean {
  if (message.type !== 'sync' || !message.data) return false
  const { changes, need } = Automerge.decodeSyncMessage(message.data)
  return changes.length === 0 && need.length === 0
}

export class HeldAcknowledgements {
  readonly #held = new Map<string, Message>()
  #timer: ReturnType<typeof setTimeout> | undefined
  readonly #delayMs: number
  readonly #send: (message: Message) => void

  constructor(delayMs: number, send: (message: Message) => void) {
    this.#delayMs = delayMs
    this.#send = send
  }

  /** Holds `message`, the acknowledgement for `documentId`, in place of any held before it. */
  hold(documentId: string, message: Message): void {
    this.#held.set(documentId, message)
    this.#timer ??= setTimeout(this.flush, this.#delayMs)
  }

  /** A newer sync message for the document is going out: the held one has nothing left to say. */
  supersede(documentId: string): void {
    this.#held.delete(documentId)
  }

  /** Sends everything held, in the order first held. */
  readonly flush = (): void => {
    clearTimeout(this.#timer)
    this.#timer = undefined
    const held = [...this.#held.values()]
    this.#held.clear()
    for (const message of held) this.#send(message)
  }

  /** Drops everything held (the connection is gone: the sync protocol recovers on reconnect). */
  clear(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#held.clear()
  }
}
