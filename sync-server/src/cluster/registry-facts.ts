/**
 * The access registry is per node (its own LevelDB), but what it knows must hold on
 * every node: who owns an actor, what a document is (a head with its members, a
 * segment of which conversation, whose inbox). Changes reach a node either from its own
 * clients, through its guard, which records these facts, or from another node over the
 * bus, which the guard never sees. So the facts travel with the changes:
 *
 * - a sync message with changes carries the owners of their actors, and, when the
 *   receiver may not have the document yet, the document's entry; the receiving node
 *   records them before its repo applies the changes, so its guard and its read checks
 *   already know them when its own clients ask;
 * - a node asked about a document it has no entry for asks the others (`locate`)
 *   before it believes the document is new: a fresh node serves every conversation,
 *   and an unregistered document is never read by someone who may not.
 *
 * Members change through the head document itself: each node's ConversationWatch
 * records them when the head syncs, as on a single node.
 */
import type { Message } from '@automerge/automerge-repo'
import type { AccessRegistry, DocEntry } from '../access/registry.ts'
import { decodeSyncData } from '../network/frames.ts'
import type { BusHooks, RedisBusAdapter } from './bus-adapter.ts'
import { changeActors } from './change-actors.ts'

export interface Facts {
  entry?: DocEntry
  owners?: Record<string, string>
}

/**
 * How long a node waits for the others to say what a document is before taking it as new.
 * The question settles as soon as every node has answered (or one knows it), so this only
 * bounds the wait on a node that stopped answering but is not dropped yet (five heartbeats);
 * 1 s was short enough for a busy node's answer to miss it.
 */
export const LOCATE_TIMEOUT_MS = 5000
const LOCATE = 'locate'

function isEntry(value: unknown): value is DocEntry {
  if (typeof value !== 'object' || value === null) return false
  const entry = value as Record<string, unknown>
  switch (entry.type) {
    case 'head':
      return typeof entry.members === 'object' && entry.members !== null
    case 'segment':
      return typeof entry.conversation === 'string'
    case 'inbox':
      return typeof entry.user === 'string'
    default:
      return false
  }
}

/** The bus hooks that carry registry facts along with the changes. */
export function registryFacts(registry: AccessRegistry): Required<BusHooks> {
  return {
    async annotate(message: Message): Promise<Facts | undefined> {
      const { documentId, data } = message as { documentId?: string; data?: Uint8Array }
      if ((message.type !== 'sync' && message.type !== 'request') || !documentId || !data) return undefined
      const sync = decodeSyncData(data)
      if (sync.changes.length === 0) return undefined
      const facts: Facts = {}
      // The receiver has nothing of the document yet (or we cannot tell): it needs the entry first.
      if (sync.have.every(have => have.lastSync.length === 0)) {
        const entry = await registry.localEntry(documentId)
        if (entry) facts.entry = entry
      }
      const owners: Record<string, string> = {}
      for (const actor of changeActors(sync.changes)) {
        const owner = await registry.actorOwner(actor)
        if (owner !== undefined) owners[actor] = owner
      }
      if (Object.keys(owners).length > 0) facts.owners = owners
      return facts.entry || facts.owners ? facts : undefined
    },

    async absorb(message: Message, extra: unknown): Promise<void> {
      const documentId = (message as { documentId?: string }).documentId
      const facts = extra as Facts
      if (documentId && isEntry(facts.entry)) await registry.learn(documentId, facts.entry)
      for (const [actor, owner] of Object.entries(facts.owners ?? {})) {
        // The first binding a node learns stands, as on a single node.
        if (typeof owner === 'string' && (await registry.actorOwner(actor)) === undefined) await registry.bindActor(actor, owner)
      }
    },
  }
}

/** Lets the registry ask the other nodes about documents it has no entry for, and answers them. */
export function locateOverBus(registry: AccessRegistry, bus: RedisBusAdapter, shared: boolean): void {
  bus.answer(LOCATE, async body => {
    const documentId = (body as { documentId?: unknown })?.documentId
    if (typeof documentId !== 'string') return null
    const entry = await registry.localEntry(documentId)
    // Sharing PostgreSQL, "not here" holds for this moment only, and is not kept: the asker is
    // about to register it there, for every node, and a remembered absence would refuse it
    // here later (a segment the relay core loaded for an HTTP call is checked against this
    // cache). Each node on its own LevelDB learns the registration from the asker's fact on
    // the bus instead; forgetting there made a node miss documents now and then
    // (sync-server/test/cluster/cluster.test.ts, 2–3 runs in 10).
    if (entry === null && shared) registry.forget(documentId)
    return entry
  })
  registry.setLocator(async documentId => {
    const answers = await bus.query(LOCATE, { documentId }, { timeoutMs: LOCATE_TIMEOUT_MS, enough: found => found.some(isEntry) })
    return answers.find(isEntry) ?? null
  })
}
