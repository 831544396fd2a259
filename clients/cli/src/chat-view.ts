/**
 * What `parley chat` shows: messages as permanent lines, and one status line (connection
 * and who is typing) that changes in place. On a terminal the status line sits above the
 * prompt and is redrawn; over pipes only real changes are written (back online, gone
 * offline, someone started typing), never a line per reconnect attempt or per pause.
 */
import type { ConnectionStatus } from '@parley/client'
import { clearScreenDown, cursorTo, moveCursor } from 'node:readline'
import type { Output } from './io.ts'

export interface ChatStatus {
  /** 'connecting' until the first attempt ends; after that, anything but online is offline (retrying). */
  connection: 'connecting' | 'online' | 'offline'
  /** Why the last attempt failed, while offline. */
  problem?: string
  /** Who is typing, sorted. */
  typing: string[]
}

/** Where the view draws: permanent lines, and the one status line. */
export interface Screen {
  line(text: string, stream?: 'out' | 'err'): void
  status(status: ChatStatus): void
}

const LOST = 'the connection to the server was lost'

export function typingText(users: readonly string[]): string {
  if (users.length === 0) return ''
  return `${users.join(', ')} ${users.length === 1 ? 'is' : 'are'} typing…`
}

export function connectionText(status: ChatStatus): string {
  if (status.connection === 'online') return 'online'
  if (status.connection === 'connecting') return 'connecting…'
  return `offline${status.problem ? `: ${status.problem}` : ''}; reconnecting (messages are kept on this device)`
}

/** The status line as a terminal shows it. */
export function statusLine(status: ChatStatus): string {
  const typing = typingText(status.typing)
  return `-- ${connectionText(status)}${typing ? ` · ${typing}` : ''}`
}

/**
 * Folds the client's status events and typing changes into the status, and draws it only
 * when what it says changed: connecting ↔ offline flaps during reconnects say nothing new.
 */
export class ChatView {
  readonly #screen: Screen
  #status: ChatStatus
  #key: string

  constructor(screen: Screen, initial: ConnectionStatus, problem?: string) {
    this.#screen = screen
    this.#status = { connection: initial === 'online' ? 'online' : initial === 'offline' ? 'offline' : 'connecting', problem, typing: [] }
    this.#key = JSON.stringify(this.#status)
    screen.status(this.#status)
  }

  get status(): ChatStatus {
    return this.#status
  }

  connection(status: ConnectionStatus, problem?: string): void {
    const connection = status === 'online' ? 'online' : status === 'connecting' && this.#status.connection === 'connecting' ? 'connecting' : 'offline'
    // A connection that was up and dropped has no failed attempt to name yet.
    const dropped = this.#status.connection === 'online' ? LOST : undefined
    this.#update({ ...this.#status, connection, problem: connection === 'offline' ? (problem ?? this.#status.problem ?? dropped) : undefined })
  }

  typing(users: readonly string[]): void {
    this.#update({ ...this.#status, typing: [...users].sort() })
  }

  line(text: string, stream: 'out' | 'err' = 'out'): void {
    this.#screen.line(text, stream)
  }

  #update(next: ChatStatus): void {
    const key = JSON.stringify(next)
    if (key === this.#key) return
    this.#key = key
    this.#status = next
    this.#screen.status(next)
  }
}

/**
 * Over pipes nothing can be redrawn: the connection is written when it goes online,
 * offline or back (with why, as known then; a later reason for the same outage is not
 * news enough for a line), and typing when someone starts or the set of typists
 * changes, not when they stop.
 */
export function pipeScreen(output: Output): Screen {
  let connection = ''
  let typing = ''
  return {
    line: (text, stream = 'out') => (stream === 'out' ? output.out(text) : output.err(text)),
    status(status) {
      if (status.connection !== connection) {
        connection = status.connection
        output.err(`parley: ${connectionText(status)}`)
      }
      const nextTyping = typingText(status.typing)
      if (nextTyping !== typing && nextTyping !== '') output.err(`… ${nextTyping}`)
      typing = nextTyping
    },
  }
}

/**
 * On a terminal: messages scroll above a status line, which sits above the prompt. Each
 * change clears the status and prompt lines, writes what is new, and draws both again.
 * `redrawPrompt` redraws the prompt with the half-typed input (readline's prompt(true)).
 */
export function terminalScreen(terminal: NodeJS.WritableStream, redrawPrompt: () => void): Screen & { start(): void; afterEnter(): void } {
  let status: ChatStatus = { connection: 'connecting', typing: [] }
  /** Until start(), nothing of the status or prompt is on screen. */
  let started = false
  /** From the prompt line, back to the start of the status line, clearing both. */
  const clearBottom = (): void => {
    cursorTo(terminal, 0)
    moveCursor(terminal, 0, -1)
    clearScreenDown(terminal)
  }
  const drawBottom = (): void => {
    terminal.write(`${statusLine(status)}\n`)
    redrawPrompt()
  }
  return {
    start() {
      started = true
      drawBottom()
    },
    /** Readline echoed the entered line and moved down: take the echo away, draw the prompt where it was. */
    afterEnter() {
      moveCursor(terminal, 0, -1)
      cursorTo(terminal, 0)
      clearScreenDown(terminal)
      redrawPrompt()
    },
    line(text) {
      if (!started) return void terminal.write(`${text}\n`)
      clearBottom()
      terminal.write(`${text}\n`)
      drawBottom()
    },
    status(next) {
      status = next
      if (!started) return
      clearBottom()
      drawBottom()
    },
  }
}
