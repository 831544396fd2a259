import { isParleyError, type ParleyClient } from '@parley/client'
import { COMMANDS, parseInvocation, UsageError, type CommandName, type Invocation } from './args.ts'
import { chat } from './commands/chat.ts'
import { conversations } from './commands/conversations.ts'
import { create } from './commands/create.ts'
import { download } from './commands/download.ts'
import { history } from './commands/history.ts'
import { search } from './commands/search.ts'
import { send } from './commands/send.ts'
import { sync } from './commands/sync.ts'
import { processOutput, type Output } from './io.ts'
import { openClient } from './session.ts'

const USAGE = `Usage: parley [--server ws://HOST:PORT]... [--token JWT] [--data DIR] COMMAND

Commands:
  create [--kind group] [--title T] [--member USER]...   prints the new conversation ID
  send <conversationId> <text>                           appends locally, then syncs if it can
  send <conversationId> --file PATH                      shares a file: stored here, uploaded when online
  download <conversationId> <messageId> [--out PATH]     saves a shared file (default: its name, here)
  history <conversationId> [--limit N] [--json]          the merged timeline, oldest first
  sync [--timeout SECONDS]                               exchange everything with the server, then exit
  chat <conversationId>                                  interactive: live timeline, typing, send
  conversations [--json]
  search <query> [--conversation ID] [--author USER] [--before T] [--after T] [--limit N] [--json]
                                                         messages on this device, newest first (T: ISO date/time or ms)

Every command works offline on the local replica (--data, default ~/.parley) and
syncs when the server is reachable; a refused token or a URL that is not a Parley
server stops it at once. Several servers (a cluster): repeat --server, or separate
them with commas. Flags also read PARLEY_SERVER, PARLEY_TOKEN, PARLEY_DATA.`

const HANDLERS: Record<CommandName, (client: ParleyClient, invocation: Invocation, output: Output) => Promise<number>> = {
  create,
  send,
  history,
  sync,
  chat,
  conversations,
  search,
  download,
}

export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env, output: Output = processOutput): Promise<number> {
  let client: ParleyClient | undefined
  try {
    const parsed = parseInvocation(argv, env)
    if (parsed.help) {
      output.out(parsed.command ? `parley ${parsed.command} ${COMMANDS[parsed.command].positionals.map(p => `<${p}>`).join(' ')}\n\n${USAGE}` : USAGE)
      return 0
    }
    client = await openClient(parsed)
    return await HANDLERS[parsed.command](client, parsed, output)
  } catch (error) {
    if (error instanceof UsageError) {
      output.err(`parley: ${error.message}\n\n${USAGE}`)
      return 2
    }
    output.err(`parley: ${isParleyError(error) ? `${error.code}: ` : ''}${(error as Error).message}`)
    return isParleyError(error, 'PARLEY_ERR_INVALID_OPTION') ? 2 : 1
  } finally {
    await client?.close()
  }
}

export async function run(argv: string[]): Promise<void> {
  process.exitCode = await main(argv)
  // A reconnect timer must not keep a finished command alive.
  setImmediate(() => process.exit())
}
