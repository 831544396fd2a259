/**
 * A conversation of 100,000 messages opened on a new device (a fresh browser profile):
 * the app shows the newest page having loaded only the newest segment, and scrolling up
 * renders more and then pages older segments in from the server (`loadOlder`). How long
 * each step took is printed; timing goals live in the benchmarks.
 */
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { screenshot } from './support/artifacts.ts'
import { launchBrowser, startAll, stopAll, Windows } from './support/browser.ts'
import { Chat } from './support/chat.ts'
import { historyText, seedHistory } from './support/history.ts'
import { WebServer } from './support/web-server.ts'

const MESSAGES = 100_000
const SEGMENT = 1_000
const PAGE = 50

let server: WebServer
let browser: Browser
let windows: Windows

beforeAll(async () => {
  server = await WebServer.start()
  const started = performance.now()
  await startAll([launchBrowser().then(launched => (browser = launched)), seedHistory(server, 'alice', 'Archive', MESSAGES)])
  console.log(`history: ${MESSAGES} messages on the server in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  windows = new Windows(browser, server)
})
afterAll(() => stopAll([() => windows?.closeAll(), () => browser?.close(), () => server?.stop()]))

describe(`a conversation with ${MESSAGES.toLocaleString('en')} messages`, () => {
  it('shows the newest page from the newest segment, and loads older pages on scroll', async () => {
    const alice = new Chat(await windows.signIn('alice'))
    await alice.row('Archive').locator('.row-preview', { hasText: historyText(MESSAGES - 1) }).waitFor()

    const opened = performance.now()
    await alice.openConversation('Archive')
    await alice.message(historyText(MESSAGES - 1)).waitFor()
    const openMs = performance.now() - opened
    const timeline = alice.page.locator('.timeline')
    // The newest page is rendered; only the newest segment was loaded.
    expect(await timeline.getAttribute('data-rendered')).toBe(String(PAGE))
    expect(await timeline.getAttribute('data-loaded')).toBe(String(SEGMENT))
    expect((await alice.timeline()).map(item => item.text)).toEqual(Array.from({ length: PAGE }, (_, i) => historyText(MESSAGES - PAGE + i)))
    await screenshot(alice.page, 'history-newest')

    // Scroll to the top until the app has paged in the segment before the newest.
    const scrolled = performance.now()
    let scrolls = 0
    while (Number(await timeline.getAttribute('data-loaded')) <= SEGMENT) {
      const rendered = Number(await timeline.getAttribute('data-rendered'))
      await timeline.evaluate(element => element.scrollTo({ top: 0 }))
      await alice.page.waitForFunction(before => Number(document.querySelector('.timeline')?.getAttribute('data-rendered')) > before, rendered)
      scrolls++
    }
    const olderMs = performance.now() - scrolled
    expect(await timeline.getAttribute('data-loaded')).toBe(String(2 * SEGMENT))
    await alice.message(historyText(MESSAGES - SEGMENT - 1)).waitFor({ state: 'attached' })
    // The view kept its place: it did not jump to the top of what was added.
    expect(await timeline.evaluate(element => element.scrollTop)).toBeGreaterThan(0)
    await screenshot(alice.page, 'history-older')
    console.log(`history: newest page shown ${openMs.toFixed(0)} ms after opening; older segment paged in after ${scrolls} scrolls, ${olderMs.toFixed(0)} ms`)
  })
})
