import type { Conversation, ParleyClient } from '@parley/client'
import { fileTypeFromBuffer } from 'file-type'
import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import type { Invocation } from '../args.ts'
import type { Output } from '../io.ts'
import { isFatal, syncIfReachable } from '../session.ts'

/** How long `send --file` waits for its upload once the server is reachable. */
const UPLOAD_WAIT_MS = 120_000

export async function send(client: ParleyClient, invocation: Invocation, output: Output): Promise<number> {
  const [conversationId, text] = invocation.args as [string, string]
  const conversation = await client.conversation(conversationId)
  const id = invocation.file === undefined ? await conversation.send(text) : await sendFile(conversation, invocation.file)
  output.out(id)
  if (invocation.servers.length === 0) {
    output.err('parley: saved on this device (no server configured)')
    return 0
  }
  try {
    if (!(await syncIfReachable(client, invocation, output))) {
      output.err('parley: saved on this device; it goes out on the next sync')
      return 0
    }
    if (invocation.file !== undefined && !(await uploaded(client, conversation, id, output))) return 1
    output.err('parley: delivered to the server')
  } catch (error) {
    if (isFatal(error)) output.err('parley: saved on this device; it goes out once the server accepts this token and URL')
    throw error
  }
  return 0
}

/** The file's type as the server will sniff it (it refuses a mismatch); anything unrecognised goes as bytes. */
async function sendFile(conversation: Conversation, path: string): Promise<string> {
  const bytes = new Uint8Array(await readFile(path))
  const type = (await fileTypeFromBuffer(bytes))?.mime ?? 'application/octet-stream'
  return conversation.sendFile({ name: basename(path), type, bytes })
}

/** Waits for the file's upload; false (with the reason) when it failed or took too long. */
async function uploaded(client: ParleyClient, conversation: Conversation, id: string, output: Output): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<'late'>(resolve => (timer = setTimeout(() => resolve('late'), UPLOAD_WAIT_MS)))
  const outcome = await Promise.race([client.attachments.uploads.settled(), late])
  clearTimeout(timer)
  const state = conversation.uploadState(id)
  if (outcome !== 'late' && state?.status !== 'failed') return true
  output.err(`parley: the file is saved on this device, but ${state?.status === 'failed' ? `the server refused it: ${state.error}` : `its upload did not finish within ${UPLOAD_WAIT_MS / 1000} s`}; \`parley sync\` tries again`)
  return false
}
