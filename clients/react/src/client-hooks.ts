import type { ConnectionStatus, ConversationSummary } from '@parley/client'
import { useClient } from './context.ts'
import { useExternalValue } from './external.ts'

/** The connection status: 'connecting' | 'online' | 'offline'. Re-renders only when it changes. */
export function useStatus(): ConnectionStatus {
  const client = useClient()
  return useExternalValue(
    client,
    changed => {
      client.on('status', changed)
      return () => void client.off('status', changed)
    },
    () => client.status,
  )
}

function sameSummaries(a: ConversationSummary[], b: ConversationSummary[]): boolean {
  return a.length === b.length && a.every((summary, i) => summary.id === b[i]!.id && summary.kind === b[i]!.kind && summary.title === b[i]!.title)
}

/** The user's conversations (`client.conversations()`): re-renders when the list or a title changes. */
export function useConversations(): ConversationSummary[] {
  const client = useClient()
  return useExternalValue(
    client,
    changed => {
      client.on('conversations', changed)
      return () => void client.off('conversations', changed)
    },
    () => client.conversations(),
    sameSummaries,
  )
}
