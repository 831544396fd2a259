import type { DocumentId } from '@automerge/automerge-repo'
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { appendMessage, createConversationDocs, findWhenSynced, stockRepo, until } from './helpers.ts'
import { readSegmentEvents, segmentLength, type SegmentDoc } from '@parley/core'

const BIN = fileURLToPath(new URL('../bin/parley-server.js', import.meta.url))

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the real command; `until` resolves early once stdout matches, leaving it running. */
function start(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const output = { stdout: '', stderr: '' }
  child.stdout.on('data', chunk => (output.stdout += chunk))
  child.stderr.on('data', chunk => (output.stderr += chunk))
  const exited = new Promise<Run>(resolve => child.on('exit', code => resolve({ code, ...output })))
  const printed = (pattern: RegExp) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const match = output.stdout.match(pattern)
        if (match) resolve(match)
      }
      child.stdout.on('data', check)
      void exited.then(run => reject(new Error(`exited ${run.code} before printing ${pattern}: ${run.stderr}`)))
    })
  return { child, exited, printed }
}

describe('the parley-server command', () => {
  const dirs: string[] = []
  afterAll(() => Promise.all(dirs.map(dir => rm(dir, { recursive: true, force: true }))))
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-cli-'))
    dirs.push(dir)
    return dir
  }

  it('serves on a development secret, mints tokens it accepts, and flushes on SIGTERM', async () => {
    const data = await tempDir()
    const server = start(['--port', '0', '--data', data, '--log-level', 'warn'])
    const [, port] = await server.printed(/listening on http:\/\/127\.0\.0\.1:(\d+)/)
    const token = start(['token', 'alice', '--data', data])
    const minted = await token.exited
    expect(minted.code).toBe(0)
    const jwt = minted.stdout.trim()
    expect(jwt.split('.')).toHaveLength(3)

    const url = `ws://127.0.0.1:${port}/sync`
    const fake = { url, token: async () => jwt }
    const alice = await stockRepo(fake, 'alice')
    const { segment: handle } = createConversationDocs(alice.repo, 'alice', [])
    const kept = appendMessage(handle, 'alice', 'kept')
    const reader = await stockRepo(fake, 'alice', 'second-device')
    const copy = await findWhenSynced<SegmentDoc>(reader, handle.documentId)
    await until(copy, doc => segmentLength(doc) === 1)
    alice.close()
    reader.close()

    server.child.kill('SIGTERM')
    expect((await server.exited).code).toBe(0)

    const again = start(['--port', '0', '--data', data, '--log-level', 'warn'])
    const [, port2] = await again.printed(/listening on http:\/\/127\.0\.0\.1:(\d+)/)
    const later = await stockRepo({ url: `ws://127.0.0.1:${port2}/sync`, token: async () => jwt }, 'alice')
    const found = await later.repo.find<SegmentDoc>(handle.documentId as DocumentId)
    expect(readSegmentEvents(found.doc()).events).toEqual([kept])
    later.close()
    again.child.kill('SIGINT')
    expect((await again.exited).code).toBe(0)
  })

  it('reads flags from PARLEY_* environment variables', async () => {
    const data = await tempDir()
    const server = start(['--log-level', 'warn'], { PARLEY_PORT: '0', PARLEY_SERVER_DATA: data, PARLEY_JWT_SECRET: 'a-secret-from-the-environment' })
    await server.printed(/listening on/)
    server.child.kill('SIGTERM')
    const run = await server.exited
    expect(run.code).toBe(0)
    expect(run.stdout).not.toContain('development secret')
  })

  it.each([
    [['--redis', 'localhost:6379'], /redis must be a URL like redis:\/\/HOST:PORT/],
    [['--colour', 'red'], /Unknown option '--colour'/],
    [['frobnicate'], /unknown command frobnicate/],
    [['token'], /expected exactly one <userId>/],
    [['--port', 'eighty'], /--port \(or PARLEY_PORT\) must be a whole number from 0 to 65535, got "eighty"/],
    [['--relay-core', '--redis', 'redis://127.0.0.1:6379'], /the relay core .* cannot be combined with redis/],
  ])('exits 2 with a clear message for %j', async (args, message) => {
    const run = await start([...args, '--data', await tempDir()]).exited
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(message)
  })

  it('reads PARLEY_RELAY_CORE as a boolean and refuses anything else', async () => {
    const run = await start(['--data', await tempDir(), '--redis', 'redis://127.0.0.1:6379'], { PARLEY_RELAY_CORE: '1' }).exited
    expect(run.code).toBe(2)
    expect(run.stderr).toMatch(/cannot be combined with redis/)
    const wrong = await start(['--data', await tempDir()], { PARLEY_RELAY_CORE: 'maybe' }).exited
    expect(wrong.code).toBe(2)
    expect(wrong.stderr).toMatch(/PARLEY_RELAY_CORE must be 1, true, yes, 0, false or no, got "maybe"/)
  })

  it('prints usage for --help', async () => {
    const run = await start(['--help']).exited
    expect(run.code).toBe(0)
    expect(run.stdout).toContain('parley-server token <userId>')
  })
})
