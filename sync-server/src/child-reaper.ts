/**
 * Child processes that tests and benchmarks start (servers, redis-server, nginx, CLI
 * runs) never outlive the process that started them, however it ends. Stopping them is
 * the suite's job; this is what still kills them when the suite cannot: the test process
 * exits with them running, or is killed (vitest ends its workers with SIGTERM, which runs
 * no `exit` handler).
 *
 * One small `bash` per process that registers a child holds the read end of a pipe and the
 * list of live children; when the pipe closes, whatever ended the parent, it SIGKILLs the
 * ones still listed. A child spawned `detached` is killed with its whole process group
 * (nginx's workers).
 */
import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'

/** The reaper's name in `ps`; the end-of-run check (test/support/leftover-processes.ts) knows it. */
export const REAPER_NAME = 'parley-test-reaper'

const REAPER_SCRIPT = `trap '' INT TERM HUP
live=
while read -r op target; do
  case $op in
    +) live="$live $target" ;;
    -) kept=; for t in $live; do [ "$t" = "$target" ] || kept="$kept $t"; done; live=$kept ;;
  esac
done
for t in $live; do kill -KILL -- "$t" 2>/dev/null; done`

/**
 * One reaper and one `exit` listener per process, however often this module is loaded: a
 * test runner that runs many files in one process (vitest's single fork) evaluates it
 * afresh for each file, and module-level state then added a reaper and an `exit` listener
 * per file (Node's MaxListenersExceededWarning past ten). The state lives on `globalThis`.
 */
interface ReaperState {
  readonly reaper: ChildProcess
  /** Kill targets (a PID, or minus a process group ID) of the children still running. */
  readonly live: Set<number>
}

const STATE = Symbol.for('@parley/sync-server child reaper')

function state(): ReaperState {
  const global = globalThis as { [STATE]?: ReaperState }
  return (global[STATE] ??= startReaper())
}

function startReaper(): ReaperState {
  // bash, not sh: dash's kill takes no `--`, so no process group.
  const reaper = spawn('bash', ['-c', REAPER_SCRIPT, REAPER_NAME], { stdio: ['pipe', 'ignore', 'ignore'] })
  // Neither the reaper nor its pipe keeps this process alive.
  reaper.unref()
  const stdin = reaper.stdin as (NodeJS.WritableStream & { unref?: () => void }) | null
  stdin?.unref?.()
  reaper.stdin?.on('error', () => undefined)
  reaper.on('error', () => undefined)
  const live = new Set<number>()
  process.once('exit', () => {
    for (const target of live) killQuietly(target)
  })
  return { reaper, live }
}

function tell(line: string): void {
  state().reaper.stdin?.write(`${line}\n`)
}

function killQuietly(target: number): void {
  try {
    process.kill(target, 'SIGKILL')
  } catch {
    // already gone
  }
}

/**
 * Registers a child so it dies with this process at the latest. `group: true` for a child
 * spawned with `detached: true`: its whole process group goes.
 */
export function reapOnExit<T extends ChildProcess>(child: T, options: { group?: boolean } = {}): T {
  const pid = child.pid
  if (pid === undefined) return child // never started: its 'error' event says why
  const target = options.group ? -pid : pid
  const { live } = state()
  live.add(target)
  tell(`+ ${target}`)
  child.once('exit', () => {
    live.delete(target)
    // A group may outlive its leader (nginx's workers, for a moment): the reaper keeps it
    // until the leader is reaped, then forgets it so a reused PID is never killed.
    tell(`- ${target}`)
  })
  return child
}


/**
 * Resolves once `child` prints a line matching `ready` (stdout or stderr); rejects when it
 * fails to start or exits first, with what it printed.
 */
export function untilReady(child: ChildProcess, ready: RegExp, name: string): Promise<void> {
  let log = ''
  return new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      log += chunk.toString()
      if (ready.test(log)) resolve()
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('error', error => reject(new Error(`cannot start ${name}: ${error.message}`)))
    child.once('exit', code => reject(new Error(`${name} exited with ${code} before it was ready:\n${log}`)))
  })
}
