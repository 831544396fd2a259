import { ClientErrorCodes, createClient, isParleyError, ParleyError, type ParleyClient } from '@parley/client'
import { mkdir } from 'node:fs/promises'
import type { Invocation } from './args.ts'
import type { Output } from './io.ts'

/** Opens the local replica under --data, connected to the --server(s) when given. */
export async function openClient(invocation: Invocation): Promise<ParleyClient> {
  if (!invocation.token) throw new ParleyError(ClientErrorCodes.INVALID_OPTION, 'a token is required: pass --token JWT or set PARLEY_TOKEN')
  await mkdir(invocation.data, { recursive: true })
  const server = invocation.servers.length === 0 ? undefined : invocation.servers.length === 1 ? invocation.servers[0] : invocation.servers
  return createClient({ server, token: invocation.token, storage: { kind: 'level', dir: invocation.data } })
}

/**
 * Failures no retry mends: the server refused the token (it stays refused: the CLI's token
 * is fixed for the run), or the URL is not a Parley sync endpoint. Every command stops at
 * once on these, quoting the reason.
 */
export function isFatal(error: unknown): boolean {
  return isParleyError(error, ClientErrorCodes.UNAUTHENTICATED) || isParleyError(error, ClientErrorCodes.NOT_SYNC_SERVER)
}

/**
 * Rejects with the first fatal connection error (one already recorded included); `stop`
 * detaches. Raced against whatever a command waits on.
 */
export function fatalConnectionError(client: ParleyClient): { failed: Promise<never>; stop: () => void } {
  let onError: (error: ParleyError) => void = () => {}
  const failed = new Promise<never>((_resolve, reject) => {
    onError = error => {
      if (isFatal(error)) reject(error)
    }
    const recorded = client.connectionProblem
    if (recorded) onError(recorded)
    client.on('error', onError)
  })
  // A command that finished first must not leave an unhandled rejection behind.
  failed.catch(() => undefined)
  return { failed, stop: () => client.off('error', onError) }
}

/**
 * Resolves true once online, false once every server was tried once and failed (or `ms`
 * passed); rejects at once with a fatal error (refused token, not a sync endpoint).
 */
export async function reachServer(client: ParleyClient, servers: number, ms: number): Promise<boolean> {
  if (client.status === 'online') return true
  const fatal = fatalConnectionError(client)
  let onStatus: (status: string) => void = () => {}
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    return await Promise.race([
      fatal.failed,
      new Promise<boolean>(resolve => {
        // Each failed attempt ends in 'offline'; the first one may have happened already.
        let failures = client.status === 'offline' && client.connectionProblem ? 1 : 0
        if (failures >= servers) return resolve(false)
        onStatus = status => {
          if (status === 'online') resolve(true)
          if (status === 'offline' && ++failures >= servers) resolve(false)
        }
        client.on('status', onStatus)
        timer = setTimeout(() => resolve(false), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
    client.off('status', onStatus)
    fatal.stop()
  }
}

/**
 * Exchanges everything with the server when it can be reached within a few seconds.
 * Returns whether it did; offline is not an error for commands that work locally, but
 * a refused token or a wrong URL is (thrown at once).
 */
export async function syncIfReachable(client: ParleyClient, invocation: Invocation, output: Output, timeoutMs = 10_000): Promise<boolean> {
  if (!(await reachServer(client, invocation.servers.length, 3_000))) {
    const problem = client.connectionProblem
    output.err(`parley: ${problem ? `${problem.code}: ${problem.message}` : `no answer from ${invocation.servers.join(', ')} yet`}; working from this device's copy`)
    return false
  }
  const fatal = fatalConnectionError(client)
  try {
    await Promise.race([client.sync({ timeout: timeoutMs }), fatal.failed])
    return true
  } catch (error) {
    if (isFatal(error)) throw error
    output.err(`parley: could not finish syncing (${(error as ParleyError).code ?? (error as Error).message}); working from this device's copy`)
    return false
  } finally {
    fatal.stop()
  }
}
