/**
 * Two legitimate @parley/client users (alice and bob) in one conversation, chatting
 * while hostile traffic hits the same server: the server must keep serving them.
 */
import { createClient, type Conversation, type ParleyClient } from '@parley/client'
import { TEST_RECONNECT } from '../support/clients.ts'
import { withTimeout, type SyncEndpoint } from '@parley/sync-server/testing'
import { timelineWhere } from '../support/timeline.ts'

type Who = 'alice' | 'bob'
const DELIVERY_MS = 10_000

export class LegitChat {
  readonly #clients: Record<Who, ParleyClient>
  readonly #conversations: Record<Who, Conversation>
  readonly #sent: Record<Who, string[]> = { alice: [], bob: [] }
  /** Sends not awaited by the hostile loop; awaited (and their errors surfaced) at the end. */
  readonly #pending: Promise<unknown>[] = []
  /** Every status change of either client: hostile traffic must not cost them their connection. */
  readonly statusChanges: string[] = []
  #count = 0

  private constructor(clients: Record<Who, ParleyClient>, conversations: Record<Who, Conversation>) {
    this.#clients = clients
    this.#conversations = conversations
    for (const who of ['alice', 'bob'] as const) clients[who].on('status', status => this.statusChanges.push(`${who}: ${status}`))
  }

  static async start(server: SyncEndpoint): Promise<LegitChat> {
    // A large page so the whole test's chat stays in the loaded timeline.
    const connect = (user: Who) =>
      createClient({ server: server.url, token: () => server.token(user), storage: { kind: 'memory' }, reconnect: TEST_RECONNECT, pageSize: 1_000 })
    const alice = await connect('alice')
    const bob = await connect('bob')
    const conversation = await alice.createConversation({ title: 'under fire', members: ['bob'] })
    try {
      await alice.sync()
      await bob.sync()
    } catch (error) {
      // Seen right after startup: a join answered with a `peer` reply lacking senderId
      // leaves the client `connecting` for good. Say so rather than a bare sync timeout.
      throw new Error(`the legit clients did not come online (alice ${alice.status}, bob ${bob.status}) before any hostile traffic`, { cause: error })
    }
    const chat = new LegitChat({ alice, bob }, { alice: conversation, bob: await bob.conversation(conversation.id) })
    await chat.roundTrip()
    return chat
  }

  /** Sends one message without waiting for it (used between hostile connections). */
  say(who: Who): void {
    const text = `${who} #${++this.#count}`
    this.#sent[who].push(text)
    this.#pending.push(this.#conversations[who].send(text))
  }

  /** Alice says something and bob sees it, then the other way round. */
  async roundTrip(): Promise<void> {
    for (const [from, to] of [['alice', 'bob'], ['bob', 'alice']] as const) {
      const text = `${from} #${++this.#count}`
      this.#sent[from].push(text)
      const arrived = timelineWhere(this.#conversations[to], timeline => timeline.some(item => item.text === text))
      await this.#conversations[from].send(text)
      await withTimeout(arrived, DELIVERY_MS, `${to} receiving "${text}"`)
    }
  }

  /** Every message either one sent is in the other's timeline, from the right author. */
  async expectAllDelivered(): Promise<void> {
    await Promise.all(this.#pending)
    for (const [from, to] of [['alice', 'bob'], ['bob', 'alice']] as const) {
      const expected = this.#sent[from]
      const has = (timeline: { author: string; text: string }[]) => {
        const seen = new Set(timeline.filter(item => item.author === from).map(item => item.text))
        return expected.every(text => seen.has(text))
      }
      await withTimeout(timelineWhere(this.#conversations[to], has), DELIVERY_MS, `${to} receiving all ${expected.length} messages from ${from}`)
    }
  }

  get messagesSent(): number {
    return this.#sent.alice.length + this.#sent.bob.length
  }

  async close(): Promise<void> {
    await Promise.allSettled(Object.values(this.#clients).map(client => client.close()))
  }
}
