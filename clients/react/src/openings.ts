/**
 * Conversations being opened for the hooks, one entry per client and ID while a component
 * uses it (dropped with its last subscriber, so the map is as big as what is on screen).
 * A conversation not found (offline, not synced yet) is tried again whenever the client
 * comes online or its inbox lists it.
 */
import type { Conversation, ParleyClient } from '@parley/client'

export type Opening =
  | { readonly state: 'opening' }
  | { readonly state: 'open'; readonly conversation: Conversation }
  | { readonly state: 'failed'; readonly error: Error }

const OPENING: Opening = Object.freeze({ state: 'opening' })
const openStates = new WeakMap<Conversation, Opening>()

function open(conversation: Conversation): Opening {
  let opening = openStates.get(conversation)
  if (!opening) openStates.set(conversation, (opening = Object.freeze({ state: 'open', conversation })))
  return opening
}

interface Entry {
  opening: Opening
  readonly listeners: Set<() => void>
  stop(): void
}

class Openings {
  readonly #client: ParleyClient
  readonly #entries = new Map<string, Entry>()

  constructor(client: ParleyClient) {
    this.#client = client
  }

  get(id: string): Opening {
    const entry = this.#entries.get(id)
    if (entry) return entry.opening
    const loaded = this.#client.loadedConversation(id)
    return loaded ? open(loaded) : OPENING
  }

  subscribe(id: string, listener: () => void): () => void {
    const entry = this.#entries.get(id) ?? this.#start(id)
    entry.listeners.add(listener)
    return () => {
      entry.listeners.delete(listener)
      if (entry.listeners.size > 0 || this.#entries.get(id) !== entry) return
      entry.stop()
      this.#entries.delete(id)
    }
  }

  #start(id: string): Entry {
    const client = this.#client
    let live = true
    const set = (opening: Opening): void => {
      if (!live || entry.opening === opening) return
      entry.opening = opening
      for (const listener of [...entry.listeners]) listener()
    }
    let listedAtFailure = false
    const attempt = (): void => {
      let opening: Promise<Conversation>
      try {
        opening = client.conversation(id)
      } catch (error) {
        return set({ state: 'failed', error: error as Error }) // a closed client throws at once
      }
      opening.then(
        conversation => set(open(conversation)),
        (error: Error) => {
          // The inbox listed it while this attempt was under way: one more try.
          const listed = client.conversations().some(summary => summary.id === id)
          if (listed && !listedAtFailure) {
            listedAtFailure = true
            return attempt()
          }
          set({ state: 'failed', error })
        },
      )
    }
    const retry = (status: string): void => {
      if (status === 'online' && entry.opening.state === 'failed') attempt()
    }
    // The inbox synced and lists it now: the server has it.
    const listed = (list: { id: string }[]): void => {
      if (entry.opening.state === 'failed' && list.some(summary => summary.id === id)) attempt()
    }
    const entry: Entry = {
      opening: this.get(id),
      listeners: new Set(),
      stop: () => {
        live = false
        client.off('status', retry)
        client.off('conversations', listed)
      },
    }
    this.#entries.set(id, entry)
    client.on('status', retry)
    client.on('conversations', listed)
    if (entry.opening.state !== 'open') attempt()
    return entry
  }
}

const byClient = new WeakMap<ParleyClient, Openings>()

export function openings(client: ParleyClient): Openings {
  let found = byClient.get(client)
  if (!found) byClient.set(client, (found = new Openings(client)))
  return found
}
