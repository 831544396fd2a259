/**
 * Writers that keep sending while a fault is made, and the checks after it: every message
 * sent is on every replica (each member's client), every node lists each conversation's
 * events numbered 1, 2, 3 … with no gap and no number or event twice, the same list on
 * every node, and each message reached the webhook receiver under one key.
 */
import type { Conversation } from '@parley/client'
import { expect } from 'vitest'
import type { ServerProcess } from '../support/server-process.ts'
import { allTexts } from './support/clients.ts'
import { seededRandom } from './support/random.ts'
import { sleep, until, type FaultCluster } from './cluster-harness.ts'

export interface Writer {
  user: string
  /** The writer's copy of each conversation, in the order of `Writers.ids`. */
  conversations: Conversation[]
}

export class Writers {
  /** Per conversation ID, every text sent into it. */
  readonly sent: Map<string, Set<string>>
  readonly #writers: Writer[]
  readonly #ids: string[]
  readonly #random = seededRandom(20_261_205)
  #running: Promise<void>[] = []
  #on = false
  #counter = 0

  constructor(ids: string[], writers: Writer[]) {
    this.#ids = ids
    this.#writers = writers
    this.sent = new Map(ids.map(id => [id, new Set()]))
  }

  get count(): number {
    return [...this.sent.values()].reduce((sum, texts) => sum + texts.size, 0)
  }

  /** Each writer sends into a random conversation every 20–60 ms until `stop`. */
  start(label: string): void {
    this.#on = true
    this.#running = this.#writers.map(async writer => {
      while (this.#on) {
        await this.#send(writer, Math.floor(this.#random() * this.#ids.length), label)
        await sleep(20 + this.#random() * 40)
      }
    })
  }

  async stop(): Promise<void> {
    this.#on = false
    await Promise.all(this.#running.splice(0))
  }

  /**
   * One more message from every writer into every conversation. A node that lost a frame
   * notices with the next change of the segment (docs/cluster.md, "Gaps, without offsets").
   */
  async round(label: string): Promise<void> {
    for (const writer of this.#writers) for (let i = 0; i < this.#ids.length; i++) await this.#send(writer, i, label)
  }

  /**
   * One message from `user` into conversation `index`, published over HTTP on `node`: a
   * writer there, wherever the clients are connected.
   */
  async publish(cluster: FaultCluster, node: ServerProcess, user: string, index: number, label: string): Promise<void> {
    const text = `${user} ${label} #${this.#counter++}`
    const id = this.#ids[index]!
    this.sent.get(id)!.add(text)
    const { status, body } = await cluster.http(node, user, `/v1/conversations/${id}/messages`, { text })
    if (status !== 201) throw new Error(`POST a message on node :${node.port}: HTTP ${status} ${JSON.stringify(body)}`)
  }

  /** Waits (bounded) until every writer's copy of every conversation holds exactly what was sent. */
  async expectOnEveryReplica(): Promise<void> {
    for (const writer of this.#writers) {
      for (const [i, id] of this.#ids.entries()) {
        const expected = [...this.sent.get(id)!].sort()
        const conversation = writer.conversations[i]!
        const texts = await until(
          `${writer.user}'s copy of conversation ${i} to hold all ${expected.length} messages`,
          async () => (await allTexts(conversation)).sort(),
          got => got.length >= expected.length && expected.every(text => got.includes(text)),
          { describe: got => ({ has: got.length, missing: expected.filter(text => !got.includes(text)) }) },
        )
        expect(texts, `${writer.user}, conversation ${i}`).toEqual(expected)
      }
    }
  }

  async #send(writer: Writer, index: number, label: string): Promise<void> {
    const text = `${writer.user} ${label} #${this.#counter++}`
    this.sent.get(this.#ids[index]!)!.add(text)
    await writer.conversations[index]!.send(text)
  }
}

interface ListedEvent {
  seq: number
  id: string
  type: string
  text?: string
}

async function listEvents(cluster: FaultCluster, node: ServerProcess, user: string, id: string): Promise<ListedEvent[]> {
  const events: ListedEvent[] = []
  for (;;) {
    const page = await cluster.http(node, user, `/v1/conversations/${id}/events?after=${events.at(-1)?.seq ?? 0}&limit=1000`)
    if (page.status !== 200) throw new Error(`GET events on node :${node.port}: HTTP ${page.status} ${JSON.stringify(page.body)}`)
    const batch = page.body.events as ListedEvent[]
    events.push(...batch)
    if (batch.length < 1000) return events
  }
}

/** Every running node lists each conversation's events as 1, 2, 3 …, each event once, every message sent, the same list everywhere. */
export async function expectOneSequence(cluster: FaultCluster, writers: Writers, user: string): Promise<void> {
  const running = cluster.nodes.filter(node => node.pid !== undefined)
  for (const [id, texts] of writers.sent) {
    const lists = await until(
      `every node to list the ${texts.size} messages of ${id}`,
      () => Promise.all(running.map(node => listEvents(cluster, node, user, id))),
      all => all.every(events => events.filter(event => event.type === 'message').length >= texts.size),
      { describe: all => all.map(events => ({ listed: events.length, missing: [...texts].filter(text => !events.some(event => event.text === text)) })) },
    )
    const [first] = lists as [ListedEvent[]]
    expect(first.map(event => event.seq), `numbers of ${id}`).toEqual(first.map((_, i) => i + 1))
    expect(new Set(first.map(event => event.id)).size, `events of ${id} listed once each`).toBe(first.length)
    const messages = first.filter(event => event.type === 'message').map(event => event.text!)
    expect(messages.sort(), `messages of ${id}`).toEqual([...texts].sort())
    for (const [n, events] of lists.entries()) expect(events, `node ${n} lists ${id} as the first node does`).toEqual(first)
  }
}

/**
 * Each message sent reached the receiver (at least once), and under exactly one key however
 * often that key was delivered: a receiver deduplicating on the key acts once per message.
 */
export async function expectWebhooksOncePerKey(cluster: FaultCluster, writers: Writers): Promise<void> {
  const texts = [...writers.sent.values()].flatMap(set => [...set])
  const keys = await until(
    `a webhook for each of the ${texts.length} messages`,
    () => cluster.receiver.keysByText(),
    byText => texts.every(text => byText.has(text)),
    { describe: byText => ({ missing: texts.filter(text => !byText.has(text)) }) },
  )
  const twice = [...keys].filter(([, set]) => set.size > 1).map(([text, set]) => `${text}: ${[...set].join(', ')}`)
  expect(twice, 'messages delivered under more than one key').toEqual([])
}

export async function expectConsistent(cluster: FaultCluster, writers: Writers, user: string): Promise<void> {
  await writers.expectOnEveryReplica()
  await expectOneSequence(cluster, writers, user)
  await expectWebhooksOncePerKey(cluster, writers)
}
