/** `npm run soak -- [--minutes 10] [--seed N] [--users 6] [--conversations 4] [--cluster 2] [--out DIR]` */
import { parseArgs } from 'node:util'

export interface SoakOptions {
  minutes: number
  seed: number
  users: number
  conversations: number
  /** Nodes sharing one Redis (cluster mode); 1 runs a single node without Redis. */
  nodes: number
  out: string
}

const USAGE = 'usage: npm run soak -- [--minutes 10] [--seed N] [--users 6] [--conversations 4] [--cluster NODES] [--out DIR]'

export function soakOptions(argv: string[]): SoakOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      minutes: { type: 'string', default: '10' },
      seed: { type: 'string' },
      users: { type: 'string', default: '6' },
      conversations: { type: 'string', default: '4' },
      cluster: { type: 'string' },
      out: { type: 'string', default: 'test/artifacts/soak' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    process.stdout.write(`${USAGE}\n`)
    process.exit(0)
  }
  const number = (name: string, value: string | undefined, min: number): number => {
    const parsed = Number(value)
    if (!Number.isFinite(parsed) || parsed < min) throw new Error(`--${name} must be a number ≥ ${min}\n${USAGE}`)
    return parsed
  }
  return {
    minutes: number('minutes', values.minutes, 0.1),
    seed: values.seed === undefined ? Date.now() % 1_000_000 : number('seed', values.seed, 0),
    users: number('users', values.users, 2),
    conversations: number('conversations', values.conversations, 1),
    nodes: values.cluster === undefined ? 1 : number('cluster', values.cluster, 2),
    out: values.out!,
  }
}
