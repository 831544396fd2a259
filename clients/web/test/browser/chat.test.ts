/**
 * Two people chat in two browser profiles against a real parley-server process: the
 * conversation list, the timeline, typing and read receipts, edits, deletes and
 * reactions, and going offline (a reload included) and coming back.
 */
import { describe, expect, it } from 'vitest'
import { screenshot } from './support/artifacts.ts'
import { Chat } from './support/chat.ts'
import { browserSuite } from './support/suite.ts'

const windows = browserSuite()

/** Alice and Bob signed in, Alice has started `title` with Bob, and both have it open. */
async function pair(title: string): Promise<[Chat, Chat]> {
  const [alice, bob] = (await Promise.all([windows().signIn('alice'), windows().signIn('bob')])).map(window => new Chat(window)) as [Chat, Chat]
  await alice.createConversation(title, ['bob'])
  await bob.openConversation(title)
  return [alice, bob]
}

describe('two people chatting', () => {
  it('shows the list with unread counts and last message, own messages on the right, typing and "seen by"', async () => {
    const [alice, bob] = (await Promise.all([windows().signIn('alice'), windows().signIn('bob')])).map(window => new Chat(window)) as [Chat, Chat]
    await alice.createConversation('Lunch', ['bob'])
    await alice.send('Pizza at noon?')
    await alice.send('The usual place')

    // Bob has not opened it: the list tells him there are two unread messages and the last one.
    const row = bob.row('Lunch')
    await row.locator('.unread', { hasText: '2' }).waitFor()
    expect(await row.locator('.row-preview').textContent()).toBe('alice: The usual place')
    await screenshot(bob.page, 'list-unread')

    await bob.openConversation('Lunch')
    await bob.message('The usual place').waitFor()
    await row.locator('.unread').waitFor({ state: 'detached' })
    expect(await bob.page.locator('.day-separator').first().textContent()).toBe('Today')
    expect(await bob.message('Pizza at noon?').getAttribute('class')).toContain('theirs')

    // Bob read them: Alice sees it under her newest message.
    await alice.message('The usual place').locator('.seen-by', { hasText: 'Seen by bob' }).waitFor()

    // Bob types: Alice sees him typing, until he sends.
    await bob.composer.pressSequentially('Sounds good')
    await alice.typing.filter({ hasText: 'bob is typing…' }).waitFor()
    await bob.composer.press('Enter')
    await alice.message('Sounds good').waitFor()
    await alice.page.locator('.typing[data-typing=""]').waitFor()

    // Own messages on the right, the other's on the left; Alice's reached the server.
    const timeline = await alice.page.locator('.timeline').boundingBox()
    const mine = await alice.message('The usual place').locator('.bubble').boundingBox()
    const theirs = await alice.message('Sounds good').locator('.bubble').boundingBox()
    const middle = timeline!.x + timeline!.width / 2
    expect(mine!.x).toBeGreaterThan(middle)
    expect(theirs!.x + theirs!.width).toBeLessThan(middle)
    await alice.page.locator('.message[data-state="server"]', { hasText: 'The usual place' }).waitFor()
    expect(await alice.page.locator('.message.mine[data-state="local"]').count()).toBe(0)
    await screenshot(alice.page, 'chat-alice')
    await screenshot(bob.page, 'chat-bob')
  })

  it('shows edits, deletes and reactions on both sides', async () => {
    const [alice, bob] = await pair('Edits')
    await alice.send('See you at 1')
    await alice.send('Wrong chat, sorry')
    await bob.message('Wrong chat, sorry').waitFor()

    await alice.message('See you at 1').hover()
    await alice.message('See you at 1').getByRole('button', { name: 'Edit' }).click()
    await alice.page.getByLabel('Edit message').fill('See you at 1:30')
    await alice.page.getByLabel('Edit message').press('Enter')
    // Alice's own timeline first: a failure below then says the edit was made but did not reach Bob.
    await alice.message('See you at 1:30').locator('.edited', { hasText: 'edited' }).waitFor()
    await bob.message('See you at 1:30').locator('.edited', { hasText: 'edited' }).waitFor()

    await alice.message('Wrong chat, sorry').hover()
    await alice.message('Wrong chat, sorry').getByRole('button', { name: 'Delete' }).click()
    await alice.page.getByRole('dialog', { name: 'Delete this message?' }).getByRole('button', { name: 'Delete' }).click()
    await bob.message('This message was deleted').waitFor()
    await bob.message('Wrong chat, sorry').waitFor({ state: 'detached' })

    await bob.message('See you at 1:30').hover()
    await bob.message('See you at 1:30').getByRole('button', { name: 'React' }).click()
    await bob.page.getByRole('button', { name: 'React with 👍' }).click()
    const chip = alice.message('See you at 1:30').locator('.reaction')
    await chip.filter({ hasText: '1' }).waitFor()
    expect(await chip.getAttribute('title')).toBe('bob')
    // Alice adds hers by pressing the chip: two.
    await chip.click()
    await bob.message('See you at 1:30').locator('.reaction', { hasText: '2' }).waitFor()
    await screenshot(bob.page, 'edits-reactions')
  })

  it('creates a group and adds a member, who then finds it in their list', async () => {
    const alice = new Chat(await windows().signIn('alice'))
    await alice.createConversation('Project', ['bob'])
    await alice.send('Kick-off on Monday')
    await alice.page.getByRole('button', { name: 'Members' }).click()
    const dialog = alice.page.getByRole('dialog', { name: 'Members' })
    await dialog.getByLabel('Add a member').fill('carol')
    await dialog.getByRole('button', { name: 'Add' }).click()
    await dialog.locator('.member-list li', { hasText: 'carol' }).waitFor()
    await dialog.getByRole('button', { name: 'Close' }).click()
    expect(await alice.page.locator('.conversation-title p').textContent()).toBe('3 members: alice, bob, carol')

    const carol = new Chat(await windows().signIn('carol'))
    await carol.openConversation('Project')
    await carol.message('Kick-off on Monday').waitFor()
  })
})

describe('offline', () => {
  it('lets both write while one is offline; once back, both show the same timeline', async () => {
    const [alice, bob] = await pair('Offline')
    await alice.send('Before the tunnel')
    await bob.message('Before the tunnel').waitFor()
    await alice.page.locator('.message[data-state="server"]', { hasText: 'Before the tunnel' }).waitFor()

    await alice.page.context().setOffline(true)
    await alice.badge.and(alice.page.locator('[data-status="offline"]')).waitFor()
    await alice.waitForClientStatus('not-online')
    await alice.send('Written in the tunnel')
    await alice.send('Still in the tunnel')
    await bob.send('Are you there?')
    expect(await alice.message('Written in the tunnel').getAttribute('data-state')).toBe('local')
    expect((await bob.timeline()).map(item => item.text)).toEqual(['Before the tunnel', 'Are you there?'])
    await screenshot(alice.page, 'offline-alice')

    await alice.page.context().setOffline(false)
    const all = ['Before the tunnel', 'Written in the tunnel', 'Still in the tunnel', 'Are you there?']
    await Promise.all([alice.waitForTexts(all), bob.waitForTexts(all)])
    expect(await alice.timeline()).toEqual(await bob.timeline())
    await alice.waitForNone('.message.mine[data-state="local"]')
    await alice.badge.and(alice.page.locator('[data-status="online"]')).waitFor()
    await screenshot(alice.page, 'back-online-alice')
  })

  it('writes again, on the next start, a message whose local save a reload cut short', async () => {
    const [alice, bob] = await pair('Cut short')
    await alice.send('Before the cut')
    const conversation = await alice.row('Cut short').getAttribute('data-conversation')
    await alice.page.context().setOffline(true)
    await alice.waitForClientStatus('not-online')
    // What the composer leaves when the page goes between Enter and the save to IndexedDB:
    // the message's ID and text in the outbox, the message in no document (the window is
    // milliseconds, so it is set up here rather than raced).
    await alice.page.evaluate(conversation => {
      localStorage.setItem('parley.outbox.alice', JSON.stringify(['cut-short-message-id']))
      localStorage.setItem('parley.outbox.alice.drafts', JSON.stringify({ 'cut-short-message-id': { conversation, text: 'Cut short by a reload' } }))
    }, conversation)
    await alice.page.reload()
    await alice.openConversation('Cut short')
    await alice.message('Cut short by a reload').waitFor()
    expect(await alice.message('Cut short by a reload').getAttribute('data-state')).toBe('local')
    expect(await alice.page.evaluate(() => localStorage.getItem('parley.outbox.alice.drafts'))).toBe('{}')

    await alice.page.context().setOffline(false)
    await bob.message('Cut short by a reload').waitFor()
    await alice.page.locator('.message[data-state="server"]', { hasText: 'Cut short by a reload' }).waitFor()
    expect((await alice.timeline()).map(item => item.text)).toEqual(['Before the cut', 'Cut short by a reload'])
  })

  it('keeps unsent messages through a reload with no network, and sends them when it returns', async () => {
    const [alice, bob] = await pair('Reload')
    await alice.send('Sent while online')
    await alice.page.locator('.message[data-state="server"]', { hasText: 'Sent while online' }).waitFor()
    await alice.whenAvailableOffline()

    await alice.page.context().setOffline(true)
    await alice.waitForClientStatus('not-online')
    await alice.send('Unsent, then reloaded')
    await alice.page.reload()
    await alice.message('Unsent, then reloaded').waitFor()
    expect(await alice.message('Unsent, then reloaded').getAttribute('data-state')).toBe('local')
    expect(await alice.message('Sent while online').getAttribute('data-state')).toBe('server')
    expect(await alice.badge.getAttribute('data-status')).toBe('offline')
    await screenshot(alice.page, 'reloaded-offline')

    await alice.page.context().setOffline(false)
    await bob.message('Unsent, then reloaded').waitFor()
    await alice.page.locator('.message[data-state="server"]', { hasText: 'Unsent, then reloaded' }).waitFor()
    expect(await alice.timeline()).toEqual(await bob.timeline())
  })
})
