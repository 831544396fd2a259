/**
 * Questions this node asked every other node, waiting for their answers: each resolves
 * when every node asked has answered (or left), when `enough` says so, or at its deadline.
 */
import type { PeerId } from '@automerge/automerge-repo'

interface Pending {
  waiting: Set<PeerId>
  answers: unknown[]
  enough?: (answers: unknown[]) => boolean
  timer: ReturnType<typeof setTimeout>
  resolve: (answers: unknown[]) => void
}

export class QueryBook {
  readonly #pending = new Map<number, Pending>()
  #next = 1

  open(peers: PeerId[], timeoutMs: number, enough?: (answers: unknown[]) => boolean): { id: number; answers: Promise<unknown[]> } {
    const id = this.#next++
    const answers = new Promise<unknown[]>(resolve => {
      const timer = setTimeout(() => this.#settle(id), timeoutMs)
      timer.unref()
      this.#pending.set(id, { waiting: new Set(peers), answers: [], enough, timer, resolve })
    })
    return { id, answers }
  }

  answer(id: number, from: PeerId, body: unknown): void {
    const pending = this.#pending.get(id)
    if (!pending || !pending.waiting.delete(from)) return
    pending.answers.push(body)
    if (pending.waiting.size === 0 || pending.enough?.(pending.answers)) this.#settle(id)
  }

  /** A node that left answers nothing: stop waiting for it. */
  forget(peerId: PeerId): void {
    for (const [id, pending] of this.#pending) {
      if (pending.waiting.delete(peerId) && pending.waiting.size === 0) this.#settle(id)
    }
  }

  #settle(id: number): void {
    const pending = this.#pending.get(id)
    if (!pending) return
    this.#pending.delete(id)
    clearTimeout(pending.timer)
    pending.resolve(pending.answers)
  }
}
