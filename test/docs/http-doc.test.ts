/**
 * docs/http.md stays true: every shell block in it runs, in order, with curl against a
 * real server process, and must succeed. They run as a reader runs them: from the
 * repository root with the reader's PATH (no node_modules/.bin), and the token is the one
 * the doc's own command mints.
 */
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ServerProcess } from '../support/server-process.ts'

const DOC = fileURLToPath(new URL('../../docs/http.md', import.meta.url))
const ROOT = fileURLToPath(new URL('../../', import.meta.url))
/** The PATH a reader's shell has: vitest runs under npm, which puts node_modules/.bin first. */
const READER_PATH = (process.env.PATH ?? '')
  .split(':')
  .filter(dir => !dir.endsWith('node_modules/.bin'))
  .join(':')

function bash(script: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise(resolve => {
    execFile('bash', ['-o', 'pipefail', '-ec', script], { cwd: ROOT, env: { ...process.env, ...env, PATH: READER_PATH } }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })
}

describe('docs/http.md', () => {
  let server: ServerProcess
  const env: Record<string, string> = {}
  beforeAll(async () => {
    // A receiver that is never there: notifications queue up, which is all the admin routes need.
    server = await ServerProcess.start(['--webhook-url', 'http://127.0.0.1:9/unreachable', '--webhook-secret', 'webhook-secret-for-docs'])
    env.PARLEY = `http://127.0.0.1:${server.port}`
    env.PARLEY_JWT_SECRET = server.secret
    // The doc's first block, but for the conversation ID, which it only describes.
    const setup = (await readFile(DOC, 'utf8')).match(/```sh\n([\s\S]*?)```/)![1]!
    const minted = await bash(`${setup.replace(/^export ID=….*$/m, '').replace(/^export PARLEY=.*$/m, '')}\nprintf %s "$TOKEN"`, env)
    // `export TOKEN=$(…)` succeeds even when the command in it fails: an empty token means it did.
    expect(minted.stdout, minted.stderr).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)
    env.TOKEN = minted.stdout
    const created = await fetch(`${env.PARLEY}/v1/conversations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ members: ['bob'] }),
    })
    env.ID = ((await created.json()) as { id: string }).id
  })
  afterAll(() => server?.stop())

  it('runs every example against a real server', async () => {
    const text = await readFile(DOC, 'utf8')
    const blocks = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map(match => match[1]!)
    // The first block only explains the variables the test sets.
    const runnable = blocks.filter(block => !block.includes('export ID=…'))
    expect(runnable.length).toBeGreaterThan(8)
    let output = ''
    for (const block of runnable) {
      const result = await bash(block, env)
      expect({ block, code: result.code }, result.stderr).toEqual({ block, code: 0 })
      output += result.stdout
    }
    // What the examples say they print, they print.
    for (const marker of ['"createdBy":"alice"', '"eventId":"idem-', '{"events":[],"next":', 'event: event\ndata: {"seq":1,', '"stats":', '"status":"ok"', '"openapi":"3.']) {
      expect(output).toContain(marker)
    }
  })
})
