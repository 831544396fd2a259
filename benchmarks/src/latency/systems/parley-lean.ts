/**
 * Parley with a receiver that is not the client library: a plain Automerge peer
 * (fanout/automerge-peer.ts) syncing the conversation's newest segment over the wire
 * protocol, with Automerge's own sync functions and nothing around them, moving to each
 * new segment the sender starts. The server and the sender are those of the row "Parley",
 * so the difference between the two rows is what the client library costs the receiving
 * side (issue 15: the client half of the relay core).
 */
import { DEFAULT_ACK_DELAY_MS } from '@parley/client'
import type { SegmentDoc } from '@parley/core'
import { randomUUID } from 'node:crypto'
import type { AutomergePeer } from '../../fanout/automerge-peer.ts'
import { syncedSegment, watchSegment } from '../../fanout/parley.ts'
import { parley } from './parley.ts'
import type { ClientSide, System } from './system.ts'

/** How often the receiver asks for the conversation's next segment once one is full. */
const NEXT_SEGMENT_POLL_MS = 5
const NEXT_SEGMENT_WAIT_MS = 10_000

/** The conversation's segment IDs, oldest first, over the HTTP API. */
async function segmentsOf(url: string, token: string, conversationId: string): Promise<string[]> {
  const http = url.replace(/^ws/, 'http').replace(/\/sync$/, '')
  const response = await fetch(`${http}/v1/conversations/${encodeURIComponent(conversationId)}`, { headers: { authorization: `Bearer ${token}` } })
  if (response.status !== 200) throw new Error(`reading the conversation: HTTP ${response.status} ${await response.text()}`)
  return ((await response.json()) as { segments: string[] }).segments
}

/** Follows a conversation's newest segment as a plain Automerge peer, calling `onText` with each message appended after it started. */
class LeanReceiver {
  readonly #url: string
  readonly #token: string
  readonly #conversationId: string
  readonly #onText: (text: string) => void
  #peer: AutomergePeer<SegmentDoc> | undefined
  #closed = false

  constructor(url: string, token: string, conversationId: string, onText: (text: string) => void) {
    this.#url = url
    this.#token = token
    this.#conversationId = conversationId
    this.#onText = onText
  }

  async start(): Promise<void> {
    const segments = await segmentsOf(this.#url, this.#token, this.#conversationId)
    await this.#follow(segments.at(-1)!, false)
  }

  close(): void {
    this.#closed = true
    this.#peer?.close()
  }

  /** `fromStart`: report every message the segment holds (one started after the last filled), not only those after now. */
  async #follow(segmentId: string, fromStart: boolean): Promise<void> {
    const peer = await syncedSegment(`${this.#url}?token=${this.#token}`, `receiver-${randomUUID()}`, segmentId)
    // Its answers held as the client library holds them: one frame in per message at the server in both rows.
    peer.replyDelayMs = DEFAULT_ACK_DELAY_MS
    this.#peer?.close()
    this.#peer = peer
    watchSegment(peer, this.#onText, {
      fromStart,
      onFull: () => void this.#next(segmentId).catch(error => process.stderr.write(`lean receiver: ${(error as Error).message}\n`)),
    })
  }

  /** The segment after `full`, once the sender has started it. */
  async #next(full: string): Promise<void> {
    const deadline = Date.now() + NEXT_SEGMENT_WAIT_MS
    while (!this.#closed) {
      const segments = await segmentsOf(this.#url, this.#token, this.#conversationId)
      const next = segments[segments.indexOf(full) + 1]
      if (next !== undefined) return this.#follow(next, true)
      if (Date.now() > deadline) throw new Error(`no segment after ${full} within ${NEXT_SEGMENT_WAIT_MS} ms`)
      await new Promise(resolve => setTimeout(resolve, NEXT_SEGMENT_POLL_MS))
    }
  }
}

export const parleyLeanReceiver: System = {
  ...parley,
  name: 'Parley, receiver a plain Automerge peer',
  async client(url, token): Promise<ClientSide> {
    // The sender is the client library, made on first use: the receiver's process has none.
    let sender: Promise<ClientSide> | undefined
    const library = () => (sender ??= parley.client(url, token))
    let receiver: LeanReceiver | undefined
    return {
      create: async () => (await library()).create(),
      send: async text => (await library()).send(text),
      async open(id, onText) {
        receiver = new LeanReceiver(url, token, id, onText)
        await receiver.start()
      },
      async close() {
        receiver?.close()
        await (await sender)?.close()
      },
    }
  },
}
