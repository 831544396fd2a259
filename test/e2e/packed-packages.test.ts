/**
 * The packages an app developer installs, as they would get them: `npm pack` of each
 * (which builds it), installed from the tarballs into a fresh project outside the
 * repository, then used from a plain `node` script against a real server process and
 * bundled by Vite. Nothing here sees the workspace's sources or its `@parley/source`
 * export condition.
 */
import { execFile } from 'node:child_process'
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ServerProcess } from '../support/server-process.ts'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const FIXTURE = fileURLToPath(new URL('./packed-app', import.meta.url))
const VITE = join(ROOT, 'node_modules/vite/bin/vite.js')
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc')
/** The workspaces an app installs, in dependency order. */
const PACKAGES = ['core', 'clients/sdk', 'clients/react']
/** What an app adds from the registry next to them: React for @parley/react, the peer it expects. */
const THIRD_PARTY = { react: '^19.0.0', 'react-dom': '^19.0.0', '@types/react': '^19.0.0' }

/** The environment of a process outside the workspace: no `@parley/source` condition. */
function outsideEnv(): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _workspaceConditions, ...env } = process.env
  return env
}

describe('the packed packages, installed in a project outside the repository', () => {
  let home: string
  let app: string
  let server: ServerProcess

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'parley-packed-'))
    const tarballs = join(home, 'tarballs')
    app = join(home, 'app')
    await mkdir(tarballs)
    // prepack builds each package (tsc), so the tarballs hold dist/ as it is now.
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', tarballs, ...PACKAGES.flatMap(dir => ['-w', dir])], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 })
    const packed = (JSON.parse(stdout) as { name: string; filename: string }[]).map(({ name, filename }) => [name, `file:${join(tarballs, filename)}`])
    await cp(FIXTURE, app, { recursive: true })
    await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'packed-app', private: true, type: 'module', dependencies: { ...Object.fromEntries(packed), ...THIRD_PARTY } }, null, 2))
    // The npm registry serves the third-party dependencies; npm's shared cache makes it quick.
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: app, env: outsideEnv() })
    server = await ServerProcess.start()
  }, 240_000)

  afterAll(async () => {
    await server?.stop()
    if (home) await rm(home, { recursive: true, force: true })
  })

  it('installs @parley/core from its own tarball, not from the registry, and ships JavaScript with declarations', async () => {
    const lock = JSON.parse(await readFile(join(app, 'package-lock.json'), 'utf8')) as { packages: Record<string, { resolved?: string }> }
    for (const name of ['core', 'client', 'react']) expect(lock.packages[`node_modules/@parley/${name}`]?.resolved).toMatch(/^file:.*\.tgz$/)
    // One copy, shared by the app and @parley/client.
    await expect(readdir(join(app, 'node_modules/@parley/client/node_modules/@parley/core'))).rejects.toThrow(/ENOENT/)
    for (const name of ['core', 'client', 'react']) {
      const files = await readdir(join(app, 'node_modules/@parley', name, 'dist'))
      expect(files).toEqual(expect.arrayContaining(['index.js', 'index.d.ts']))
      expect(files.filter(file => file.endsWith('.ts') && !file.endsWith('.d.ts'))).toEqual([])
    }
  })

  it('runs a plain node script that creates a conversation, sends, and reads the timeline through a real server', async () => {
    const args = ['node-main.js', server.url, await server.token('alice'), await server.token('bob'), join(home, 'alice-replica')]
    const { stdout } = await run(process.execPath, args, { cwd: app, env: outsideEnv() })
    const result = JSON.parse(stdout) as { id: string; title: string; alice: unknown[]; bob: unknown[]; bobConversations: unknown[] }
    const message = { id: expect.any(String), author: 'alice', text: 'hello from plain node', at: expect.any(Number), reactions: {} }
    expect(result.alice).toEqual([message])
    // Bob's device started empty: the conversation and the message came from the server.
    expect(result.bob).toEqual(result.alice)
    expect(result.title).toBe('from a packed package')
    expect(result.bobConversations).toEqual([{ id: result.id, kind: 'group', title: 'from a packed package' }])
  })

  it('type-checks an app against the packed declarations', async () => {
    // typed.ts also holds misuses marked @ts-expect-error: were the types `any`, tsc would fail on them.
    await expect(run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: app, env: outsideEnv() })).resolves.toMatchObject({ stdout: '' })
  })

  it('renders a React component with @parley/react in plain node', async () => {
    const { stdout } = await run(process.execPath, ['react-main.js', await server.token('carol')], { cwd: app, env: outsideEnv() })
    expect(stdout.trim()).toBe('<p>status: offline</p>')
  })

  it('bundles the client and the React hooks with Vite into a browser app', async () => {
    await run(process.execPath, [VITE, 'build', 'web', '--outDir', '../dist-web', '--emptyOutDir', '--logLevel', 'error'], { cwd: app, env: outsideEnv() })
    const assets = await readdir(join(app, 'dist-web/assets'))
    expect(assets.some(file => file.endsWith('.wasm'))).toBe(true)
    const code = (await Promise.all(assets.filter(file => file.endsWith('.js')).map(file => readFile(join(app, 'dist-web/assets', file), 'utf8')))).join('\n')
    // The app's own code and the client library's (its error codes) are in the bundle; Node's are not.
    expect(code).toContain('hello from a bundle')
    expect(code).toContain('PARLEY_ERR_SYNC_TIMEOUT')
    expect(code).toContain('PARLEY_ERR_NO_CLIENT')
    expect(code).not.toMatch(/from\s*["']node:/)
  })
})
