/**
 * Search on the device in the web app (real Chromium, real server): the search box finds
 * messages of every conversation on the device, marks the matched words, and a result
 * opens its conversation scrolled to the message, also one not rendered yet; an edit is
 * found by its new text only.
 */
import { AxeBuilder } from '@axe-core/playwright'
import type { Browser } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { screenshot } from './support/artifacts.ts'
import { launchBrowser, startAll, stopAll, Windows } from './support/browser.ts'
import { Chat } from './support/chat.ts'
import { historyText, seedHistory } from './support/history.ts'
import { WebServer } from './support/web-server.ts'

// As support/suite.ts, keeping the server at hand to seed a long conversation on it.
let server: WebServer | undefined
let browser: Browser | undefined
let open: Windows | undefined
beforeAll(async () => {
  await startAll([WebServer.start().then(started => (server = started)), launchBrowser().then(launched => (browser = launched))])
  open = new Windows(browser!, server!)
})
afterEach(context => open?.closeAll(context))
afterAll(() => stopAll([() => browser?.close(), () => server?.stop()]))
const windows = () => open!

function searchBox(chat: Chat) {
  return chat.page.getByRole('searchbox', { name: 'Search messages' })
}

function result(chat: Chat, text: RegExp) {
  return chat.page.locator('.search-result').filter({ has: chat.page.locator('.result-text', { hasText: text }) })
}

describe('searching messages on the device', () => {
  it('finds messages of conversations not opened, marks the words, and opens the conversation at the message', async () => {
    const alice = new Chat(await windows().signIn('alice'))
    await alice.createConversation('Trip', ['bob'])
    await alice.send('Remember your passport and the tickets')
    await alice.send('Train leaves at nine')
    await alice.createConversation('Work', ['bob'])
    await alice.send('The passport office closes early on Friday')
    const bob = new Chat(await windows().signIn('bob'))
    await bob.row('Work').locator('.row-preview', { hasText: 'passport office' }).waitFor()

    await searchBox(bob).fill('passp')
    await bob.page.locator('.search-count', { hasText: '2 matches' }).waitFor()
    const results = await bob.page.locator('.search-result').evaluateAll(items =>
      items.map(item => ({
        title: item.querySelector('.result-title')?.textContent,
        text: item.querySelector('.result-text')?.textContent,
        marked: Array.from(item.querySelectorAll('mark'), mark => mark.textContent),
      })),
    )
    expect(results).toEqual([
      { title: 'Work', text: 'alice: The passport office closes early on Friday', marked: ['passport'] },
      { title: 'Trip', text: 'alice: Remember your passport and the tickets', marked: ['passport'] },
    ])
    await screenshot(bob.page, 'search-results')
    const { violations } = await new AxeBuilder({ page: bob.page }).analyze()
    expect(violations.filter(v => v.impact === 'serious' || v.impact === 'critical').map(v => `${v.id}: ${v.nodes.map(n => n.target).join(', ')}`)).toEqual([])

    await result(bob, /Remember your passport/).click()
    await bob.page.locator('.conversation-title h1', { hasText: 'Trip' }).waitFor()
    const jumped = bob.page.locator('.message[data-jumped]')
    await jumped.waitFor()
    expect(await jumped.locator('.text').textContent()).toBe('Remember your passport and the tickets')
    expect(await jumped.isVisible()).toBe(true)

    // Alice edits a message: Bob finds it by the new text only.
    await alice.openConversation('Trip')
    await alice.message('Train leaves at nine').getByRole('button', { name: 'Edit' }).click()
    await alice.page.getByLabel('Edit message').fill('Train leaves at ten')
    await alice.page.getByLabel('Edit message').press('Enter')
    await bob.message('Train leaves at ten').waitFor()
    await searchBox(bob).fill('ten')
    await result(bob, /^alice: Train leaves at ten$/).waitFor()
    await searchBox(bob).fill('nine')
    await bob.page.locator('.search-count', { hasText: 'No messages on this device match.' }).waitFor()
  })

  it('jumps to a message that is loaded but not rendered, far above the newest page', async () => {
    await seedHistory(server!, 'alice', 'Archive', 1_200)
    const alice = new Chat(await windows().signIn('alice'))
    await alice.row('Archive').locator('.row-preview', { hasText: historyText(1_199) }).waitFor()

    // Message 1,001 is in the newest segment (1,000–1,199), well above the newest page of 50.
    await searchBox(alice).fill('1001')
    await result(alice, new RegExp(`^You: ${historyText(1_000)}$`)).click()
    const jumped = alice.page.locator('.message[data-jumped]')
    await jumped.waitFor()
    expect(await jumped.locator('.text').textContent()).toBe(historyText(1_000))
    expect(await jumped.isVisible()).toBe(true)
    expect(Number(await alice.page.locator('.timeline').getAttribute('data-rendered'))).toBeGreaterThanOrEqual(200)
    await screenshot(alice.page, 'search-jumped')
  })
})
