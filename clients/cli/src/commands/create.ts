import type { ParleyClient } from '@parley/client'
import type { ConversationKind } from '@parley/core'
import { UsageError, type Invocation } from '../args.ts'
import type { Output } from '../io.ts'
import { isFatal, syncIfReachable } from '../session.ts'

const KINDS = ['direct', 'group', 'channel']

export async function create(client: ParleyClient, invocation: Invocation, output: Output): Promise<number> {
  const kind = invocation.kind ?? 'group'
  if (!KINDS.includes(kind)) throw new UsageError(`--kind must be one of ${KINDS.join(', ')}`)
  const conversation = await client.createConversation({ kind: kind as ConversationKind, title: invocation.title ?? '', members: invocation.members })
  output.out(conversation.id)
  if (invocation.servers.length === 0) return 0
  try {
    if (!(await syncIfReachable(client, invocation, output))) output.err('parley: created on this device; it reaches the server on the next sync')
  } catch (error) {
    if (isFatal(error)) output.err('parley: created on this device; it reaches the server once the server accepts this token and URL')
    throw error
  }
  return 0
}
