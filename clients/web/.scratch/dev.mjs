import { chromium } from 'playwright-core'
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] })
const base = 'http://127.0.0.1:5199'
async function open(name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } })
  const page = await context.newPage()
  await page.goto(base)
  await page.getByLabel('Your name').fill(name)
  await page.getByRole('button', { name: 'Sign in', exact: true }).click()
  await page.locator('.badge[data-status="online"]').waitFor()
  return page
}
const composer = p => p.getByRole('textbox', { name: /^Message / })
async function send(p, text) { await composer(p).fill(text); await composer(p).press('Enter'); await p.locator('.message .text', { hasText: text }).first().waitFor() }
const alice = await open('alice'), bob = await open('bob')
await bob.getByRole('button', { name: 'New conversation' }).click()
await bob.getByRole('textbox', { name: 'Title (optional)' }).fill('T')
await bob.getByRole('textbox', { name: 'Members' }).fill('alice')
await bob.getByRole('button', { name: 'Create' }).click()
await send(bob, 'first')
await alice.locator('.conversation-row', { hasText: 'T' }).click()
await alice.locator('.message .text', { hasText: 'first' }).waitFor()
console.log('vis', await alice.evaluate(() => document.visibilityState + ' ' + document.hasFocus()))
await send(bob, 'second'); await send(bob, 'third')
await alice.locator('.message .text', { hasText: 'third' }).waitFor()
await alice.waitForTimeout(1000)
console.log('unread badge:', await alice.locator('.conversation-row .unread').count(), await alice.locator('.conversation-row').textContent())
await send(alice, 'mine')
await alice.waitForTimeout(1000)
console.log('unread badge:', await alice.locator('.conversation-row .unread').count(), await alice.locator('.conversation-row').textContent())
await browser.close()
