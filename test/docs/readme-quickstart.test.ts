/**
 * The README's five-minute quick start stays true: its commands, read from README.md
 * itself, run as a reader runs them — three terminals in one directory, `npx` with the
 * reader's PATH, the server on its development secret — and do what the README says
 * they do. Only the port differs (a free one instead of 8787), and Terminal 1's `npm ci`
 * is the one that set up this run.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { reapOnExit } from '@parley/sync-server/testing'
import { freePort } from '@parley/benchmarks/processes'
import { afterAll, describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const README_PORT = '127.0.0.1:8787'
/** The PATH a reader's shell has: vitest runs under npm, which puts node_modules/.bin first. */
const READER_PATH = (process.env.PATH ?? '')
  .split(':')
  .filter(dir => !dir.endsWith('node_modules/.bin'))
  .join(':')

interface QuickStart {
  /** The shell blocks: the server's terminal, Alice's, Bob's. */
  blocks: string[][]
  /** The commands the prose after the blocks gives, e.g. `npx parley sync`. */
  prose: string[]
}

export function quickStart(readme: string): QuickStart {
  const start = readme.indexOf('## Five-minute quick start')
  expect(start, 'README.md has no "Five-minute quick start" section').toBeGreaterThan(-1)
  const end = readme.indexOf('\n## ', start + 1)
  const section = readme.slice(start, end === -1 ? undefined : end)
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map(match =>
    match[1]!
      .split('\n')
      .map(line => line.replace(/\s+#.*$/, '').trim())
      .filter(Boolean),
  )
  const after = section.slice(section.lastIndexOf('```') + 3)
  const prose = [...after.matchAll(/`(npx [^`]+)`/g)].map(match => match[1]!.replace(/\s+/g, ' '))
  return { blocks, prose }
}

/** A running command: its output so far, and a way to wait for a line of it. */
class Running {
  readonly child: ChildProcess
  output = ''
  readonly exited: Promise<number | null>

  constructor(child: ChildProcess) {
    this.child = child
    child.stdout!.on('data', chunk => (this.output += chunk))
    child.stderr!.on('data', chunk => (this.output += chunk))
    this.exited = new Promise(resolve => child.once('exit', code => resolve(code)))
  }

  async waitFor(pattern: RegExp, what: string): Promise<void> {
    while (!pattern.test(this.output)) {
      const exited = await Promise.race([this.exited.then(() => true), new Promise(resolve => setTimeout(resolve, 50)).then(() => false)])
      if (exited && !pattern.test(this.output)) throw new Error(`exited before ${what}:\n${this.output}`)
    }
  }

  write(text: string): void {
    this.child.stdin!.write(text)
  }
}

/** One terminal: a shell's environment in the quick start's directory, kept from command to command. */
class Terminal {
  env: Record<string, string>
  readonly #dir: string
  readonly #port: number

  constructor(dir: string, port: number) {
    this.#dir = dir
    this.#port = port
    // A reader's shell: none of this run's PARLEY_* settings but the marks on its processes.
    const inherited = Object.entries(process.env).filter(([name]) => !name.startsWith('PARLEY_') || name.startsWith('PARLEY_TEST_RUN'))
    this.env = { ...(Object.fromEntries(inherited) as Record<string, string>), PATH: READER_PATH }
  }

  #script(commands: string[]): string {
    return commands.join('\n').replaceAll(README_PORT, `127.0.0.1:${this.#port}`)
  }

  /** Runs commands to the end, as typed one after another; the variables they set stay. */
  async run(commands: string[]): Promise<string> {
    const state = join(this.#dir, `.env-${process.hrtime.bigint()}`)
    const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', `set -a\n${this.#script(commands)}\nenv -0 > '${state}'`], { cwd: this.#dir, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] })
    const running = new Running(reapOnExit(child))
    const code = await running.exited
    expect({ commands, code }, running.output).toEqual({ commands, code: 0 })
    const env = (await readFile(state, 'utf8')).split('\0').filter(Boolean)
    await rm(state)
    this.env = Object.fromEntries(env.map(entry => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]))
    return running.output
  }

  /** Starts a long-running command (a server, a chat) in its own process group, as a shell's job. */
  start(command: string, env: Record<string, string> = {}): Running {
    const child = spawn('bash', ['-c', this.#script([command])], { cwd: this.#dir, env: { ...this.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'], detached: true })
    return new Running(reapOnExit(child, { group: true }))
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0)
    return true
  } catch {
    return false
  }
}

/** Ctrl-C: SIGINT to the job's process group; resolves once every process of it is gone. */
async function interrupt(job: Running): Promise<void> {
  const pgid = job.child.pid!
  if (groupAlive(pgid)) process.kill(-pgid, 'SIGINT')
  await job.exited
  while (groupAlive(pgid)) await new Promise(resolve => setTimeout(resolve, 20))
}

/** Splits a terminal's block at its `npx parley chat` line. */
function atChat(block: string[]): { before: string[]; chat: string } {
  const index = block.findIndex(line => /^npx parley chat\b/.test(line))
  expect(index, `no "npx parley chat" in ${block.join('; ')}`).toBeGreaterThan(-1)
  expect(block.slice(index + 1), 'the chat is the last command of its terminal').toEqual([])
  return { before: block.slice(0, index), chat: block[index]! }
}

describe("the README's quick start", () => {
  let dir: string | undefined
  let server: Running | undefined
  afterAll(async () => {
    if (server) await interrupt(server)
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('runs as written: a server, Alice and Bob chatting, writing while the server is down, and identical timelines after sync', { timeout: 300_000 }, async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
    const { blocks, prose } = quickStart(readme)
    expect(blocks).toHaveLength(3)
    const [serverBlock, aliceBlock, bobBlock] = blocks as [string[], string[], string[]]
    const packageJson = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }

    // A directory of the reader's, with the repository's installed packages.
    dir = await mkdtemp(join(tmpdir(), 'parley-quickstart-'))
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'quick-start', private: true }))
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
    const port = await freePort()
    const [terminal1, alice, bob] = [new Terminal(dir, port), new Terminal(dir, port), new Terminal(dir, port)]

    // Terminal 1: `npm ci` set up this run; `npm start` is package.json's start script (the
    // web app's build before it is not what this test is about).
    expect(serverBlock).toEqual(['npm ci', 'npm start'])
    const startServer = async () => {
      const job = terminal1.start(`npx ${packageJson.scripts.start}`, { PARLEY_PORT: String(port) })
      await job.waitFor(/listening on/, 'the server listened')
      return job
    }
    server = await startServer()
    expect(server.output).toMatch(/development secret/)

    // Terminal 2: Alice creates the conversation and opens the chat.
    const aliceSteps = atChat(aliceBlock)
    const printed = await alice.run(aliceSteps.before)
    const id = alice.env.ID
    expect(id, printed).toMatch(/^[1-9A-HJ-NP-Za-km-z]{20,}$/)
    expect(printed).toContain(id)
    const aliceChat = alice.start(aliceSteps.chat)
    // The reader turns to terminal 3 once Alice's chat is open.
    await aliceChat.waitFor(/chatting in lunch/, "Alice's chat opened")

    // Terminal 3: Bob lists it (the server put it in his inbox) and opens it by the ID Alice printed.
    const bobSteps = atChat(bobBlock.map(line => line.replace(/<[^>]*\bID\b[^>]*>/, id!)))
    const listed = await bob.run(bobSteps.before)
    expect(listed).toContain('lunch')
    const bobChat = bob.start(bobSteps.chat)
    await bobChat.waitFor(/chatting in lunch/, "Bob's chat opened")

    // "Type a line and press Enter to send; the other side sees it at once, and sees
    // 'alice is typing' while Alice types."
    aliceChat.write('Pizza at noon?\n')
    await bobChat.waitFor(/Pizza at noon\?/, 'Bob saw it')
    aliceChat.write('Be there')
    await bobChat.waitFor(/alice is typing/, 'Bob saw Alice typing')
    aliceChat.write(' or be square\n')
    await bobChat.waitFor(/Be there or be square/, 'Bob saw it')
    bobChat.write('Sounds good\n')
    await aliceChat.waitFor(/Sounds good/, 'Alice saw it')
    // "`/quit` (or Ctrl-D) leaves."
    aliceChat.write('/quit\n')
    bobChat.child.stdin!.end()
    expect([await aliceChat.exited, await bobChat.exited]).toEqual([0, 0])

    // "Now stop the server (Ctrl-C in terminal 1) and keep writing: …"
    const [send, sync, history] = [/^npx parley send /, /^npx parley sync$/, /^npx parley history /].map(pattern => {
      const command = prose.find(line => pattern.test(line))
      expect(command, `the quick start's prose gives ${pattern}`).toBeDefined()
      return command!
    }) as [string, string, string]
    await interrupt(server)
    // Bob types the ID, as he did for the chat.
    bob.env.ID = id!
    expect(await alice.run([send])).toMatch(/saved on this device/)
    expect(await bob.run([send])).toMatch(/saved on this device/)

    // "Start the server again and run `npx parley sync` on both sides — both timelines come
    // out identical, nothing lost or doubled. `npx parley history "$ID" --json` prints the
    // timeline as JSON lines."
    server = await startServer()
    await alice.run([sync])
    await bob.run([sync])
    // "then once more on the side that went first": Alice gets Bob's offline message.
    expect(readme).toMatch(/once more on the side that went first/)
    await alice.run([sync])
    const timelines = await Promise.all(
      [alice, bob].map(async terminal => {
        const lines = (await terminal.run([history])).split('\n').filter(line => line.startsWith('{'))
        return lines.map(line => JSON.parse(line) as { id: string; author: string; text: string })
      }),
    )
    expect(timelines[1]).toEqual(timelines[0])
    expect(timelines[0]!.map(item => `${item.author}: ${item.text}`).sort()).toEqual(
      ['alice: Be there or be square', 'alice: Pizza at noon?', 'alice: written offline', 'bob: Sounds good', 'bob: written offline'].sort(),
    )
    const stopped = server
    server = undefined
    await interrupt(stopped)
  })
})
