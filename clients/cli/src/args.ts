/**
 * `parley [--server URL]... [--token JWT] [--data DIR] COMMAND …`: flags are read once
 * here (flags win over PARLEY_SERVER / PARLEY_TOKEN / PARLEY_DATA) and checked against
 * what each command accepts. Several servers (the nodes of a cluster) are given as
 * repeated `--server` flags or as one comma-separated list, as the library's
 * `server: [url1, url2]`.
 */
import { homedir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

export class UsageError extends Error {}

const OPTIONS = {
  server: { type: 'string', multiple: true },
  token: { type: 'string' },
  data: { type: 'string' },
  kind: { type: 'string' },
  title: { type: 'string' },
  member: { type: 'string', multiple: true },
  limit: { type: 'string' },
  json: { type: 'boolean' },
  timeout: { type: 'string' },
  conversation: { type: 'string' },
  author: { type: 'string' },
  before: { type: 'string' },
  after: { type: 'string' },
  file: { type: 'string' },
  out: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

/** Each command: its positional arguments and the command-specific flags it takes. */
export const COMMANDS = {
  create: { positionals: [], flags: ['kind', 'title', 'member'] },
  // With --file, the text is left out (commands/send.ts).
  send: { positionals: ['conversationId', 'text'], flags: ['file'] },
  download: { positionals: ['conversationId', 'messageId'], flags: ['out'] },
  history: { positionals: ['conversationId'], flags: ['limit', 'json'] },
  sync: { positionals: [], flags: ['timeout'] },
  chat: { positionals: ['conversationId'], flags: [] },
  conversations: { positionals: [], flags: ['json'] },
  search: { positionals: ['query'], flags: ['conversation', 'author', 'before', 'after', 'limit', 'json'] },
} as const satisfies Record<string, { positionals: string[]; flags: (keyof typeof OPTIONS)[] }>

export type CommandName = keyof typeof COMMANDS

export interface Invocation {
  command: CommandName
  args: string[]
  /** The servers to sync with, in the order tried; empty: this device only. */
  servers: string[]
  token: string | undefined
  data: string
  kind: string | undefined
  title: string | undefined
  members: string[]
  limit: number | undefined
  json: boolean
  timeoutSeconds: number | undefined
  /** `search` filters, as given (commands/search.ts reads the times). */
  search: { conversation?: string; author?: string; before?: string; after?: string }
  /** `send --file PATH`, `download --out PATH`. */
  file: string | undefined
  out: string | undefined
}

export type Parsed = { help: true; command?: CommandName } | ({ help: false } & Invocation)

function positiveNumber(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const number = Number(value)
  if (!Number.isFinite(number) || number <= 0) throw new UsageError(`--${name} must be a positive number, got ${JSON.stringify(value)}`)
  return number
}

/** Each value may itself be a comma-separated list; empty entries are dropped. */
function serverList(values: string[]): string[] {
  return values.flatMap(value => value.split(',')).map(url => url.trim()).filter(url => url !== '')
}

/**
 * Message IDs are base64url, and one in 64 starts with '-', as a text may: parseArgs takes
 * such a word for an unknown short option. Every word starting with one '-' but `-h` is a
 * value here: hidden from parseArgs behind a placeholder, then given back.
 */
function shieldDashWords(argv: readonly string[]): { args: string[]; restore: (value: string) => string } {
  const hidden: string[] = []
  const args = argv.map(arg => (/^-[^-]/.test(arg) && arg !== '-h' ? `\u0000${hidden.push(arg) - 1}` : arg))
  return { args, restore: value => (value.startsWith('\u0000') ? hidden[Number(value.slice(1))]! : value) }
}

export function parseInvocation(argv: string[], env: NodeJS.ProcessEnv): Parsed {
  const { args: shielded, restore } = shieldDashWords(argv)
  let parsed
  try {
    parsed = parseArgs({ args: shielded, options: OPTIONS, allowPositionals: true, strict: true })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  const values = Object.fromEntries(
    Object.entries(parsed.values).map(([key, value]) => [key, typeof value === 'string' ? restore(value) : Array.isArray(value) ? value.map(restore) : value]),
  ) as typeof parsed.values
  const positionals = parsed.positionals.map(restore)
  const [name, ...args] = positionals
  if (name !== undefined && !(name in COMMANDS)) throw new UsageError(`unknown command ${name}`)
  const command = name as CommandName | undefined
  if (values.help || command === undefined) return command ? { help: true, command } : { help: true }

  const spec = COMMANDS[command]
  const allowed = new Set<string>(['server', 'token', 'data', 'help', ...spec.flags])
  for (const flag of Object.keys(values)) if (!allowed.has(flag)) throw new UsageError(`${command} does not take --${flag}`)
  const expected = command === 'send' && values.file !== undefined ? spec.positionals.length - 1 : spec.positionals.length
  if (args.length !== expected) {
    throw new UsageError(`${command} expects ${expected ? spec.positionals.slice(0, expected).map(p => `<${p}>`).join(' ') : 'no arguments'}`)
  }
  return {
    help: false,
    command,
    args,
    servers: serverList(values.server ?? (env.PARLEY_SERVER ? [env.PARLEY_SERVER] : [])),
    token: values.token ?? env.PARLEY_TOKEN,
    data: values.data ?? env.PARLEY_DATA ?? join(homedir(), '.parley'),
    kind: values.kind,
    title: values.title,
    members: values.member ?? [],
    limit: positiveNumber('limit', values.limit),
    json: values.json ?? false,
    timeoutSeconds: positiveNumber('timeout', values.timeout),
    search: { conversation: values.conversation, author: values.author, before: values.before, after: values.after },
    file: values.file,
    out: values.out,
  }
}
