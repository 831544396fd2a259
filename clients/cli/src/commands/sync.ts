import type { ParleyClient } from '@parley/client'
import { ClientErrorCodes, isParleyError, ParleyError } from '@parley/client'
import type { Invocation } from '../args.ts'
import type { Output } from '../io.ts'
import { fatalConnectionError } from '../session.ts'

/**
 * Exchanges everything with the server, then exits. A refused token or a URL that is no
 * sync endpoint ends it at once, with the server's reason; an unreachable server is
 * retried until the timeout and then named as such, apart from a server that answered
 * but whose documents still differed.
 */
export async function sync(client: ParleyClient, invocation: Invocation, output: Output): Promise<number> {
  if (invocation.servers.length === 0) throw new ParleyError(ClientErrorCodes.INVALID_OPTION, 'sync needs a server: pass --server or set PARLEY_SERVER')
  const timeoutSeconds = invocation.timeoutSeconds ?? 30
  const where = invocation.servers.join(', ')
  let reached = client.status === 'online'
  const onStatus = (status: string): void => {
    if (status === 'online') reached = true
  }
  client.on('status', onStatus)
  const fatal = fatalConnectionError(client)
  try {
    await Promise.race([client.sync({ timeout: timeoutSeconds * 1000 }), fatal.failed])
  } catch (error) {
    if (!isParleyError(error, ClientErrorCodes.SYNC_TIMEOUT)) throw error
    const problem = client.connectionProblem
    if (!reached && problem) throw new ParleyError(problem.code, `${problem.message}; still so after ${timeoutSeconds} s of retrying`, { cause: error })
    if (reached) throw new ParleyError(ClientErrorCodes.SYNC_TIMEOUT, `reached ${where}, but not in sync within ${timeoutSeconds} s (${error.message})`, { cause: error })
    throw new ParleyError(ClientErrorCodes.SYNC_TIMEOUT, `no answer from ${where} within ${timeoutSeconds} s (still connecting)`, { cause: error })
  } finally {
    fatal.stop()
    client.off('status', onStatus)
  }
  await uploadsSettled(client, timeoutSeconds)
  output.err(`parley: in sync with ${where} (${plural(client.conversations().length, "conversation")})`)
  return 0
}

/** Files sent from this device while offline go out once it is online (docs/attachments.md): wait for them too. */
async function uploadsSettled(client: ParleyClient, timeoutSeconds: number): Promise<void> {
  const uploads = client.attachments.uploads
  if (uploads.pending().length === 0) return
  let timer: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<'late'>(resolve => (timer = setTimeout(() => resolve('late'), timeoutSeconds * 1000)))
  const outcome = await Promise.race([uploads.settled(), late])
  clearTimeout(timer)
  if (outcome === 'late') throw new ParleyError(ClientErrorCodes.SYNC_TIMEOUT, `${plural(uploads.pending().length, 'file')} still uploading after ${timeoutSeconds} s`)
  const failed = uploads.pending().map(hash => uploads.state(hash)).filter(state => state?.status === 'failed')
  if (failed.length > 0) throw new ParleyError(ClientErrorCodes.FORBIDDEN, `the server refused ${plural(failed.length, 'file')}: ${failed.map(state => state!.error).join('; ')}`)
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`
}
