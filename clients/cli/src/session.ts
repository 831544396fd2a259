import { ClientErrorCodes, createClient, ParleyError, type ParleyClient } from '@parley/client'
import { mkdir } from 'node:fs/promises'
import type { Invocation } from './args.ts'
import type { Output } from './io.ts'

/** Opens the local replica under --data, connected to --server when one is given. */
export async function openClient(invocation: Invocation): Promise<ParleyClient> {
  if (!invocation.token) throw new ParleyError(ClientErrorCodes.INVALID_OPTION, 'a token is required: pass --token JWT or set PARLEY_TOKEN')
  await mkdir(invocation.data, { recursive: true })
  return createClient({ server: invocation.server, token: invocation.token, storage: { kind: 'level', dir: invocation.data } })
}

/** Resolves true once online, false once the first attempt failed or `ms` passed. */
export function reachServer(client: ParleyClient, ms: number): Promise<boolean> {
  if (client.status === 'online') return Promise.resolve(true)
  return new Promise(resolve => {
    const finish = (online: boolean): void => {
      clearTimeout(timer)
      client.off('status', onStatus)
      resolve(online)
    }
    const onStatus = (status: string): void => {
      if (status === 'online') finish(true)
      if (status === 'offline') finish(false)
    }
    const timer = setTimeout(() => finish(false), ms)
    client.on('status', onStatus)
  })
}

/**
 * Exchanges everything with the server when it can be reached within a few seconds.
 * Returns whether it did; offline is not an error for commands that work locally.
 */
export async function syncIfReachable(client: ParleyClient, output: Output, timeoutMs = 10_000): Promise<boolean> {
  // 'offline' here means the first attempt already failed.
  const online = client.status === 'online' || (client.status === 'connecting' && (await reachServer(client, 3_000)))
  if (!online) return false
  try {
    await client.sync({ timeout: timeoutMs })
    return true
  } catch (error) {
    output.err(`parley: could not finish syncing (${(error as ParleyError).code ?? (error as Error).message}); working from this device's copy`)
    return false
  }
}
