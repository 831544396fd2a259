/**
 * Runs hostile cases: one fresh connection each (the first bad frame closes it), a few
 * in parallel, checking the close code the contract asks for.
 */
import { RawClient, type SyncEndpoint } from '@parley/sync-server/testing'

export interface HostileCase {
  /** Join with this peer ID (and wait for `peer`) before sending; undefined: send before any join. */
  joinAs?: string
  /** The frames, sent back to back; built once the server's peer ID is known (messages must target it). */
  frames: (serverId: string) => Uint8Array[]
  /** Close codes the contract allows. */
  expect: readonly number[]
  /** Shown when the case fails. */
  label: string
}

export interface RunOptions {
  /** Hostile users the connections are spread over (so no per-user limit becomes the thing under test). */
  users: readonly string[]
  concurrency?: number
  /** Called every `every` connections: the legit users chat in between. */
  interleave?: { every: number; run: () => void }
  closeTimeoutMs?: number
  /** Stop after this many failures: a hanging server would otherwise cost a timeout per case. */
  maxFailures?: number
}

export interface RunResult {
  connections: number
  frames: number
  failures: string[]
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes.subarray(0, 48)).toString('hex') + (bytes.length > 48 ? `…(${bytes.length} B)` : '')

async function runCase(endpoint: SyncEndpoint, user: string, hostile: HostileCase, closeTimeoutMs: number): Promise<{ frames: number; failure?: string }> {
  const client = await RawClient.open(endpoint, user)
  let serverId = ''
  let frames = 0
  try {
    if (hostile.joinAs !== undefined) {
      frames++
      serverId = String((await client.join(hostile.joinAs)).senderId)
    }
    const bytes = hostile.frames(serverId)
    for (const frame of bytes) client.sendBytes(frame)
    frames += bytes.length
    const closed = await client.closedWithin(closeTimeoutMs)
    const first = bytes[0] ? hex(bytes[0]) : '(none)'
    if (!closed) return { frames, failure: `${hostile.label}: not closed within ${closeTimeoutMs} ms (expected ${hostile.expect.join('|')}); first frame ${first}` }
    if (!hostile.expect.includes(closed.code)) {
      return { frames, failure: `${hostile.label}: closed with ${closed.code} "${closed.reason}", expected ${hostile.expect.join('|')}; first frame ${first}` }
    }
    return { frames }
  } catch (error) {
    return { frames, failure: `${hostile.label}: ${(error as Error).message}` }
  } finally {
    client.terminate()
  }
}

export async function runCases(endpoint: SyncEndpoint, cases: readonly HostileCase[], options: RunOptions): Promise<RunResult> {
  const { users, concurrency = 8, interleave, closeTimeoutMs = 3_000, maxFailures = 5 } = options
  const result: RunResult = { connections: 0, frames: 0, failures: [] }
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < cases.length && result.failures.length < maxFailures) {
      const index = next++
      const outcome = await runCase(endpoint, users[index % users.length]!, cases[index]!, closeTimeoutMs)
      result.connections++
      result.frames += outcome.frames
      if (outcome.failure) result.failures.push(`case ${index}: ${outcome.failure}`)
      if (interleave && result.connections % interleave.every === 0) interleave.run()
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return result
}

/** GET /healthz: the server is up and still answering HTTP. */
export async function health(httpUrl: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${httpUrl}/healthz`, { signal: AbortSignal.timeout(5_000) })
  return { status: response.status, body: (await response.json()) as Record<string, unknown> }
}

/**
 * Waits until /healthz counts at most `expected` connections: closed hostile sockets
 * must not linger in the server. Resolves with the last count (undefined if not reported).
 */
export async function settledConnections(httpUrl: string, expected: number, timeoutMs = 5_000): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const { body } = await health(httpUrl)
    if (typeof body.connections !== 'number') return undefined
    if (body.connections <= expected || Date.now() > deadline) return body.connections
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}
