import type { ParleyClient } from '@parley/client'
import { ClientErrorCodes, ParleyError } from '@parley/client'
import { writeFile } from 'node:fs/promises'
import type { Invocation } from '../args.ts'
import type { Output } from '../io.ts'
import { syncIfReachable } from '../session.ts'

/**
 * `download <conversationId> <messageId> [--out PATH]`: saves the file an attachment
 * names, from this device or the server, to --out or to its name in the current
 * directory (core refuses names with a path separator). Prints the path.
 */
export async function download(client: ParleyClient, invocation: Invocation, output: Output): Promise<number> {
  const [conversationId, messageId] = invocation.args as [string, string]
  if (invocation.servers.length > 0) await syncIfReachable(client, invocation, output)
  const conversation = await client.conversation(conversationId)
  while (!conversation.timeline().some(item => item.id === messageId) && conversation.hasOlder()) await conversation.loadOlder()
  const item = conversation.timeline().find(entry => entry.id === messageId)
  if (!item?.attachment) throw new ParleyError(ClientErrorCodes.MESSAGE_NOT_FOUND, `no file ${messageId} in conversation ${conversationId}`)
  const bytes = await conversation.file(messageId)
  const path = invocation.out ?? item.attachment.name
  // Never over a file that is there: a name chosen by the sender must not replace one of the reader's.
  await writeFile(path, bytes, { flag: invocation.out === undefined ? 'wx' : 'w' })
  output.out(path)
  return 0
}
