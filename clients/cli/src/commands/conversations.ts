import type { ParleyClient } from '@parley/client'
import type { Invocation } from '../args.ts'
import type { Output } from '../io.ts'
import { syncIfReachable } from '../session.ts'

export async function conversations(client: ParleyClient, invocation: Invocation, output: Output): Promise<number> {
  if (invocation.servers.length > 0) await syncIfReachable(client, invocation, output)
  for (const { id } of client.conversations()) {
    const conversation = await client.conversation(id).catch(() => undefined)
    if (!conversation) {
      output.out(invocation.json ? JSON.stringify({ id }) : `${id}  (not on this device yet)`)
      continue
    }
    const head = conversation.head()
    const summary = { id, kind: head.kind, title: head.title, members: Object.keys(head.members).sort(), unread: conversation.unreadCount() }
    output.out(invocation.json ? JSON.stringify(summary) : `${id}  ${head.title || '(untitled)'}  [${head.kind}: ${summary.members.join(', ')}]  ${summary.unread} unread`)
  }
  return 0
}
