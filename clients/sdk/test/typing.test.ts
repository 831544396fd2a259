/** Typing indicators (typing.ts) over a stand-in for the head's DocHandle: what goes out, and who shows as typing. */
import { EventEmitter } from 'node:events'
import type { DocHandle } from '@automerge/automerge-repo/slim'
import { describe, expect, it } from 'vitest'
import { TypingTracker } from '../src/typing.ts'

class FakeHandle extends EventEmitter {
  readonly broadcasts: unknown[] = []
  broadcast(message: unknown): void {
    this.broadcasts.push(message)
  }
}

function tracker() {
  const handle = new FakeHandle()
  const changes: string[][] = []
  const typing = new TypingTracker(handle as unknown as DocHandle<unknown>, 'alice', users => changes.push(users))
  const hear = (user: string, typing: boolean) => handle.emit('ephemeral-message', { message: { type: 'typing', user, typing } })
  return { handle, typing, changes, hear }
}

describe('typing', () => {
  it('sends "typing" once per interval, and nothing when a message is sent: the next message starts typing again at once', () => {
    const { handle, typing } = tracker()
    typing.set(true)
    typing.set(true)
    typing.sent()
    typing.set(true)
    expect(handle.broadcasts).toEqual([
      { type: 'typing', user: 'alice', typing: true },
      { type: 'typing', user: 'alice', typing: true },
    ])
    typing.close()
  })

  it('shows a typist until they stop, or until a message of theirs arrives', () => {
    const { typing, changes, hear } = tracker()
    hear('bob', true)
    hear('carol', true)
    expect(typing.users).toEqual(['bob', 'carol'])
    typing.stopped('bob')
    typing.stopped('dave')
    hear('carol', false)
    expect(changes).toEqual([['bob'], ['bob', 'carol'], ['carol'], []])
    typing.close()
  })
})
