/**
 * What `parley-server` says when something is wrong (issue 14, section 3), and what it
 * logs (issue 13, item 11: no credential in any log line, at any level). Runs the real
 * command as a process.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const BIN = fileURLToPath(new URL('../bin/parley-server.js', import.meta.url))

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** The environment without any PARLEY_* variable of the machine running the tests. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('PARLEY_')))
  return { ...env, ...extra }
}

function start(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { env: cleanEnv(options.env ?? {}), cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  const output = { stdout: '', stderr: '' }
  const waiters = new Set<() => void>()
  const collect = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    output[stream] += chunk
    for (const waiter of [...waiters]) waiter()
  }
  child.stdout.on('data', collect('stdout'))
  child.stderr.on('data', collect('stderr'))
  const exited = new Promise<Run>(resolve => child.on('exit', code => resolve({ code, ...output })))
  /** Resolves once stdout matches; rejects if the process exits first. */
  const printed = (pattern: RegExp) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const match = output.stdout.match(pattern)
        if (!match) return
        waiters.delete(check)
        resolve(match)
      }
      waiters.add(check)
      check()
      void exited.then(run => reject(new Error(`exited ${run.code} before printing ${pattern}: ${run.stderr}`)))
    })
  return { child, exited, output, printed }
}

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers }, response => {
      response.resume()
      response.on('end', () => resolve(response.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('parley-server says what is wrong', () => {
  const dirs: string[] = []
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'parley-cli-errors-'))
    dirs.push(dir)
    return dir
  }
  let data: string
  let server: ReturnType<typeof start>
  let port: number

  beforeAll(async () => {
    data = await tempDir()
    server = start(['--port', '0', '--data', data, '--log-level', 'debug', '--log-format', 'json'])
    port = Number((await server.printed(/listening on http:\/\/127\.0\.0\.1:(\d+)/))[1])
  }, 60_000)
  afterAll(async () => {
    server?.child.kill('SIGKILL')
    await server?.exited
    await Promise.all(dirs.map(dir => rm(dir, { recursive: true, force: true })))
  })

  it('names the flag and the value given for --port abc (was "port must be 0–65535, got NaN")', async () => {
    const run = await start(['--port', 'abc', '--data', await tempDir()]).exited
    expect(run.code).toBe(2)
    expect(run.stderr).toContain('--port (or PARLEY_PORT) must be a whole number from 0 to 65535, got "abc"')
    expect(run.stderr).not.toContain('NaN')
    const limit = await start(['--max-frame-bytes', '4MB', '--data', await tempDir()]).exited
    expect(limit.stderr).toContain('--max-frame-bytes (or PARLEY_MAX_FRAME_BYTES) must be a whole number, got "4MB"')
  })

  it('says the data directory is locked by a running server (was "Database failed to open")', async () => {
    // Pretty lines, as on a terminal: the second server logs its development-secret warning before it fails.
    const run = await start(['--port', '0', '--data', data, '--log-format', 'pretty']).exited
    expect(run.code).toBe(1)
    expect(run.stderr).toContain(`parley-server: PARLEY_ERR_DATA_LOCKED: the data directory ${data} is locked by another running parley-server`)
    expect(run.stderr).toContain('give this one another --data')
    expect(run.stdout).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN {2}no --jwt-secret configured/m)
    expect(run.stdout).not.toContain('{"level"')
  })

  it('token: refuses to invent a development secret where no server has run', async () => {
    const empty = await tempDir()
    const run = await start(['token', 'alice', '--data', empty]).exited
    expect(run.code).toBe(2)
    expect(run.stdout).toBe('')
    expect(run.stderr).toContain(`no server has run with data directory ${empty}`)
    expect(run.stderr).toContain('--data DIR (or PARLEY_SERVER_DATA)')
    expect(existsSync(join(empty, 'dev-secret'))).toBe(false)
  })

  it("token: PARLEY_DATA (the client's replica) is not the server's data directory; PARLEY_SERVER_DATA is", async () => {
    // The README's quick start: `export PARLEY_DATA=.parley/alice`, then mint another token.
    const cwd = await tempDir()
    const clash = await start(['token', 'alice'], { cwd, env: { PARLEY_DATA: join(cwd, '.parley/alice') } }).exited
    expect(clash.code).toBe(2)
    expect(clash.stderr).toContain('ignoring PARLEY_DATA')
    expect(existsSync(join(cwd, '.parley/alice/dev-secret'))).toBe(false)
    expect(existsSync(join(cwd, 'data'))).toBe(false)

    const minted = await start(['token', 'alice'], { cwd, env: { PARLEY_DATA: join(cwd, '.parley/alice'), PARLEY_SERVER_DATA: data } }).exited
    expect(minted.code).toBe(0)
    const secret = (await readFile(join(data, 'dev-secret'), 'utf8')).trim()
    const { payload } = await jwtVerify(minted.stdout.trim(), new TextEncoder().encode(secret))
    expect(payload.sub).toBe('alice')
  })

  it('logs each request once, at debug, with no token or Authorization header in any line', async () => {
    const before = server.output.stdout.length
    expect(await get(port, '/healthz?token=SECRET-IN-QUERY&x=1')).toBe(200)
    expect(await get(port, '/v1/conversations?access_token=SECRET-TWO', { authorization: 'Bearer SECRET-IN-HEADER' })).toBe(401)
    expect(await get(port, '/sync?token=SECRET-AT-UPGRADE', { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' })).toBe(401)
    expect(await get(port, '/healthz?token=SECRET-LAST')).toBe(200)
    // A request is logged once its response is sent: wait for the three HTTP requests' lines (the upgrade is not a route).
    const logged = () => server.output.stdout.slice(before).split('"msg":"request"').length - 1
    await new Promise<void>(resolve => {
      const check = () => (logged() >= 3 ? resolve() : setTimeout(check, 20))
      check()
    })
    const lines = server.output.stdout.slice(before).trim().split('\n').map(line => JSON.parse(line) as { level: number; msg: string; req?: { url: string } })
    const requests = lines.filter(line => line.msg === 'request')
    expect(requests.map(line => line.req?.url)).toEqual(['/healthz?token=[redacted]&x=1', '/v1/conversations?access_token=[redacted]', '/healthz?token=[redacted]'])
    expect(requests.every(line => line.level === 20)).toBe(true)
    expect(server.output.stdout + server.output.stderr).not.toMatch(/SECRET-/)
  })

  it('logs no request line at the default level', async () => {
    const quiet = start(['--port', '0', '--data', await tempDir(), '--jwt-secret', 'a-secret-of-enough-length'])
    const quietPort = Number((await quiet.printed(/listening on http:\/\/127\.0\.0\.1:(\d+)/))[1])
    for (let i = 0; i < 5; i++) expect(await get(quietPort, `/healthz?token=SECRET-${i}`)).toBe(200)
    quiet.child.kill('SIGTERM')
    const run = await quiet.exited
    expect(run.stdout).not.toMatch(/"msg":"(request|incoming request|request completed)"/)
    expect(run.stdout).not.toContain('SECRET-')
    // Not a terminal: JSON lines.
    expect(run.stdout).toContain('"msg":"shutting down: flushing storage"')
  })
})
