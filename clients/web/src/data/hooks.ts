/**
 * The app's own hooks: the connection badge, the conversation list and the outbox. The
 * client's data (status, conversations, timeline, head, typing) comes from @parley/react,
 * through preact/compat.
 */
import type { ConnectionStatus } from '@parley/client'
import { useStatus } from '@parley/react'
import { useEffect, useState } from 'preact/hooks'
import { browserOnline } from './browser-network.ts'
import type { ConversationRow, Directory } from './directory.ts'
import type { Outbox } from './outbox.ts'

/** What the connection badge shows: the client's status, or offline whenever the browser says so. */
export function useConnection(): { shown: ConnectionStatus; client: ConnectionStatus } {
  const status = useStatus()
  const [online, setOnline] = useState(browserOnline())
  useEffect(() => {
    const network = (): void => setOnline(browserOnline())
    window.addEventListener('online', network)
    window.addEventListener('offline', network)
    return () => {
      window.removeEventListener('online', network)
      window.removeEventListener('offline', network)
    }
  }, [])
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
