/** Preact hooks over the client, the conversation list and the outbox. */
import type { Conversation, ConnectionStatus, ParleyClient, TimelineItem } from '@parley/client'
import type { Head } from '@parley/core'
import { useEffect, useState } from 'preact/hooks'
import { browserOnline } from './browser-network.ts'
import type { ConversationRow, Directory } from './directory.ts'
import type { Outbox } from './outbox.ts'

/** What the connection badge shows: the client's status, or offline whenever the browser says so. */
export function useConnection(client: ParleyClient): { shown: ConnectionStatus; client: ConnectionStatus } {
  const [status, setStatus] = useState(client.status)
  const [online, setOnline] = useState(browserOnline())
  useEffect(() => {
    const network = (): void => setOnline(browserOnline())
    client.on('status', setStatus)
    window.addEventListener('online', network)
    window.addEventListener('offline', network)
    setStatus(client.status)
    return () => {
      client.off('status', setStatus)
      window.removeEventListener('online', network)
      window.removeEventListener('offline', network)
    }
  }, [client])
  return { shown: online ? status : 'offline', client: status }
}

export function useRows(directory: Directory): ConversationRow[] {
  const [rows, setRows] = useState(() => directory.rows())
  useEffect(() => {
    setRows(directory.rows())
    return directory.subscribe(() => setRows(directory.rows()))
  }, [directory])
  return rows
}

/** Re-renders whenever a message's delivery state changes. */
export function useOutbox(outbox: Outbox): Outbox {
  const [, setVersion] = useState(0)
  useEffect(() => outbox.subscribe(() => setVersion(version => version + 1)), [outbox])
  return outbox
}

export type Opening = { state: 'opening' } | { state: 'open'; conversation: Conversation } | { state: 'failed'; message: string }

/** Opens a conversation; while it cannot be found (offline, not synced yet) it tries again as the client comes online. */
export function useConversation(client: ParleyClient, id: string): Opening {
  const [opening, setOpening] = useState<Opening>({ state: 'opening' })
  useEffect(() => {
    let live = true
    setOpening({ state: 'opening' })
    const attempt = (): void => {
      client.conversation(id).then(
        conversation => live && setOpening({ state: 'open', conversation }),
        (error: Error) => live && setOpening({ state: 'failed', message: error.message }),
      )
    }
    const retry = (status: string): void => {
      if (status === 'online') attempt()
    }
    attempt()
    client.on('status', retry)
    return () => {
      live = false
      client.off('status', retry)
    }
  }, [client, id])
  return opening
}

export interface ConversationState {
  timeline: TimelineItem[]
  head: Head
}

/** The conversation's timeline and head, updated on every change (messages, edits, receipts, members). */
export function useConversationState(conversation: Conversation): ConversationState {
  const read = (): ConversationState => ({ timeline: conversation.timeline(), head: conversation.head() })
  const [state, setState] = useState(read)
  useEffect(() => {
    const unsubscribe = conversation.subscribe(() => setState(read()))
    return () => void unsubscribe()
  }, [conversation])
  return state
}

export function useTyping(conversation: Conversation): string[] {
  const [users, setUsers] = useState(() => conversation.typingUsers())
  useEffect(() => {
    setUsers(conversation.typingUsers())
    conversation.on('typing', setUsers)
    return () => void conversation.off('typing', setUsers)
  }, [conversation])
  return users
}
