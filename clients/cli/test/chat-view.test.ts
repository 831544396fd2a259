import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { ChatView, pipeScreen, terminalScreen } from '../src/chat-view.ts'

function recorder() {
  const lines: string[] = []
  return { lines, output: { out: (line: string) => lines.push(`out ${line}`), err: (line: string) => lines.push(`err ${line}`) } }
}

const REFUSED = 'cannot reach the server at ws://127.0.0.1:8787/sync (ECONNREFUSED)'

describe('parley chat over pipes', () => {
  it('writes one line when the server goes away and one when it is back, not one per reconnect attempt', () => {
    const { lines, output } = recorder()
    const view = new ChatView(pipeScreen(output), 'connecting')
    view.connection('online')
    // A server down for 15 s: six attempts, each connecting then offline (was 12 lines).
    for (let attempt = 0; attempt < 6; attempt++) {
      view.connection('connecting', REFUSED)
      view.connection('offline', REFUSED)
    }
    view.connection('connecting', REFUSED)
    view.connection('online')
    expect(lines).toEqual([
      'err parley: connecting…',
      'err parley: online',
      `err parley: offline: ${REFUSED}; reconnecting (messages are kept on this device)`,
      'err parley: online',
    ])
  })

  it('names a dropped connection, and adds no line when the reconnect attempts then fail for another reason', () => {
    const { lines, output } = recorder()
    const view = new ChatView(pipeScreen(output), 'online')
    view.connection('offline')
    view.connection('connecting', REFUSED)
    view.connection('offline', REFUSED)
    expect(view.status.problem).toBe(REFUSED)
    expect(lines).toEqual(['err parley: online', 'err parley: offline: the connection to the server was lost; reconnecting (messages are kept on this device)'])
  })

  it('says when someone starts typing, and adds no line when they stop', () => {
    const { lines, output } = recorder()
    const view = new ChatView(pipeScreen(output), 'online')
    for (let pause = 0; pause < 3; pause++) {
      view.typing(['bob'])
      view.typing([])
    }
    view.typing(['carol', 'bob'])
    view.line('[2026-12-05 12:00] bob: hi')
    expect(lines).toEqual(['err parley: online', 'err … bob is typing…', 'err … bob is typing…', 'err … bob is typing…', 'err … bob, carol are typing…', 'out [2026-12-05 12:00] bob: hi'])
    expect(lines.join('\n')).not.toContain('nobody')
  })
})

describe('parley chat on a terminal', () => {
  /** Lines the output added to the screen: newlines written, less lines moved up. */
  function fakeTerminal() {
    let written = ''
    const terminal = new Writable({
      write(chunk, _encoding, done) {
        written += String(chunk)
        done()
      },
    })
    const net = () => (written.match(/\n/g) ?? []).length - [...written.matchAll(/\u001b\[(\d*)A/g)].reduce((sum, match) => sum + Number(match[1] || 1), 0)
    return { terminal, net, text: () => written }
  }

  it('redraws one status line in place: reconnects and typing pauses add no line, messages do', () => {
    const { terminal, net, text } = fakeTerminal()
    const screen = terminalScreen(terminal, () => terminal.write('> '))
    const view = new ChatView(screen, 'connecting')
    screen.start()
    expect(net()).toBe(1)
    view.connection('online')
    for (let attempt = 0; attempt < 6; attempt++) {
      view.connection('connecting', REFUSED)
      view.connection('offline', REFUSED)
      view.typing(['bob'])
      view.typing([])
    }
    // The status and prompt lines only: nothing scrolled up.
    expect(net()).toBe(1)
    expect(text()).toContain('-- offline: cannot reach')
    view.line('[2026-12-05 12:00] bob: one')
    view.line('[2026-12-05 12:01] bob: two')
    expect(net()).toBe(3)
    expect(text().endsWith('-- offline: cannot reach the server at ws://127.0.0.1:8787/sync (ECONNREFUSED); reconnecting (messages are kept on this device)\n> ')).toBe(true)
  })
})
