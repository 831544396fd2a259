/**
 * The outbox's drafts (src/data/outbox.ts): a message's text is kept from its ID until
 * its save, taken off once saved, and dropped when its send failed (the composer gives the
 * text back, so the next start must not send it too). localStorage from happy-dom.
 */
import { GlobalRegistrator } from '@happy-dom/global-registrator'
import type { ParleyClient } from '@parley/client'
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest'
import { Outbox } from '../../src/data/outbox.ts'

beforeAll(() => GlobalRegistrator.register())
afterAll(() => GlobalRegistrator.unregister())
beforeEach(() => localStorage.clear())

/** An offline client: the outbox only reads its user and status and listens for status. */
const offline = { user: 'alice', status: 'offline', on: () => undefined, off: () => undefined } as unknown as ParleyClient
const drafts = () => JSON.parse(localStorage.getItem('parley.outbox.alice.drafts') ?? '{}') as Record<string, unknown>
const pending = () => JSON.parse(localStorage.getItem('parley.outbox.alice') ?? '[]') as string[]

it('keeps a draft from the ID to the save, and the ID until the server has it', () => {
  const outbox = new Outbox(offline)
  outbox.hold('m1', { conversation: 'c1', text: 'hello' })
  expect(drafts()).toEqual({ m1: { conversation: 'c1', text: 'hello' } })
  outbox.add('m1')
  expect(drafts()).toEqual({})
  expect(pending()).toEqual(['m1'])
  outbox.close()
})

it('drops the draft and the ID of a message whose send failed', () => {
  const outbox = new Outbox(offline)
  outbox.hold('m2', { conversation: 'c1', text: 'not saved' })
  outbox.drop('m2')
  expect(drafts()).toEqual({})
  expect(pending()).toEqual([])
  expect(outbox.has('m2')).toBe(false)
  outbox.close()
})

/** A client holding one conversation, c1, with no messages, whose send gives `sent` its ID, then `fails` or saves. */
function clientSending(sent: string, fails: boolean): ParleyClient {
  const conversation = {
    timeline: () => [],
    send: async (_text: string, { onId }: { onId: (id: string) => void }) => {
      onId(sent)
      if (fails) throw new Error('the save failed')
      return sent
    },
  }
  return { ...offline, conversation: async () => conversation } as unknown as ParleyClient
}

it('sends a draft again on the next start, under its new ID, and takes it off once saved', async () => {
  new Outbox(offline).hold('m3', { conversation: 'c1', text: 'cut short' })
  const outbox = new Outbox(clientSending('m4', false))
  await outbox.recover()
  expect(drafts()).toEqual({})
  expect(pending()).toEqual(['m4'])
  outbox.close()
})

it('keeps one draft, under its new ID, when sending it again fails: never two copies to send', async () => {
  new Outbox(offline).hold('m5', { conversation: 'c1', text: 'cut short' })
  const outbox = new Outbox(clientSending('m6', true))
  await outbox.recover()
  expect(drafts()).toEqual({ m6: { conversation: 'c1', text: 'cut short' } })
  expect(pending()).toEqual([])
  outbox.close()
})
