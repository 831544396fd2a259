import { chromium } from 'playwright-core'
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] })
const base = 'http://127.0.0.1:8899'
const today = new Date(); today.setHours(9, 12, 0, 0)
const yesterday = new Date(today.getTime() - 86_400_000); yesterday.setHours(18, 2, 0, 0)
const users = {}
async function open(name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 880 }, locale: 'en-GB', timezoneId: Intl.DateTimeFormat().resolvedOptions().timeZone, deviceScaleFactor: 1 })
  const page = await context.newPage()
  page.on('pageerror', e => console.log(name, 'pageerror', e.message))
  await page.clock.setFixedTime(yesterday)
  await page.goto(base)
  await page.getByLabel('Your name').fill(name)
  await page.getByRole('button', { name: 'Sign in', exact: true }).click()
  await page.locator('.badge[data-status="online"]').waitFor()
  users[name] = page
  return page
}
const at = async (time, ...pages) => { for (const p of pages) await p.clock.setFixedTime(time) }
const composer = p => p.getByRole('textbox', { name: /^Message / })
async function send(p, text) { await composer(p).fill(text); await composer(p).press('Enter'); await p.locator('.message .text', { hasText: text }).first().waitFor() }
async function create(p, title, members) {
  await p.getByRole('button', { name: 'New conversation' }).click()
  await p.getByRole('textbox', { name: 'Title (optional)' }).fill(title)
  await p.getByRole('textbox', { name: 'Members' }).fill(members)
  await p.getByRole('button', { name: 'Create' }).click()
  await p.locator('.conversation-title h1', { hasText: title }).waitFor()
}
async function openConv(p, title) { await p.locator('.conversation-row', { hasText: title }).first().click(); await p.locator('.conversation-title h1', { hasText: title }).waitFor() }
const alice = await open('alice'), bob = await open('bob'), carol = await open('carol'), dana = await open('dana')
const row = async (label) => console.log(label, JSON.stringify(await alice.locator('.conversation-row', { hasText: 'Weekend' }).textContent().catch(() => '-')))
const tick = (d, min) => new Date(d.getTime() + min * 60_000)
// Design review with dana, older
await at(tick(yesterday, -300), alice, dana)
await create(dana, 'Design review', 'alice')
await send(dana, 'New mockups are in the shared folder')
await openConv(alice, 'Design review')
await send(alice, 'Thanks, I will look tonight')
// Weekend hike
await at(yesterday, alice, bob, carol)
await create(bob, 'Weekend hike', 'alice carol')
await send(bob, 'Anyone up for a hike on Saturday? 🥾')
await openConv(carol, 'Weekend hike'); await openConv(alice, 'Weekend hike')
await at(tick(yesterday, 3), alice, bob, carol)
await send(carol, 'Yes! Which trail?')
await alice.waitForTimeout(500); await row("await send(carol, 'Yes! Which ")
await at(tick(yesterday, 5), alice, bob, carol)
await send(alice, 'The ridge loop: 12 km, great views')
await send(alice, 'Train leaves at 8:40')
await alice.waitForTimeout(500); await row("await send(alice, 'Train leave")
await at(today, alice, bob, carol)
await send(bob, 'Weather looks perfect ☀️')
await send(bob, 'I can bring snacks')
await alice.waitForTimeout(500); await row("await send(bob, 'I can bring s")
await at(tick(today, 2), alice, bob, carol)
await send(alice, 'Meet at the station at 8:15?')
await alice.waitForTimeout(500); await row("await send(alice, 'Meet at the")
// edit it
const m = alice.locator('.message', { hasText: 'Meet at the station at 8:15?' })
await m.hover(); await m.getByRole('button', { name: 'Edit' }).click()
await alice.getByLabel('Edit message').fill('Meet at the station at 8:20?'); await alice.getByLabel('Edit message').press('Enter')
await alice.waitForTimeout(500); await row("await alice.getByLabel('Edit m")
for (const [p, emoji] of [[bob, '👍'], [carol, '🎉']]) {
  const t = p.locator('.message', { hasText: 'Meet at the station at 8:20?' })
  await t.waitFor(); await t.hover(); await t.getByRole('button', { name: 'React' }).click(); await p.getByRole('button', { name: `React with ${emoji}` }).click()
}
const hearts = carol.locator('.message', { hasText: 'I can bring snacks' }); await hearts.hover(); await hearts.getByRole('button', { name: 'React' }).click(); await carol.getByRole('button', { name: 'React with ❤️' }).click()
// Lunch: bob writes to alice, unread
await at(tick(today, 5), alice, bob)
await create(bob, 'Lunch', 'alice')
await alice.waitForTimeout(500); await row("await create(bob, 'Lunch', 'al")
await send(bob, 'Pizza at noon?')
await alice.waitForTimeout(500); await row("await send(bob, 'Pizza at noon?')")
await send(bob, 'The usual place')
await alice.waitForTimeout(500); await row("await send(bob, 'The usual place')")
await alice.locator('.conversation-row', { hasText: 'Lunch' }).locator('.unread').waitFor()
await alice.locator('.message .reaction').nth(1).waitFor()
await alice.locator('.seen-by').waitFor()
await alice.waitForTimeout(500); await row("await alice.locator('.seen-by').waitFor(")
await carol.clock.setFixedTime(tick(today, 6))
await composer(carol).pressSequentially('Sounds good')
await alice.waitForTimeout(500); await row('await composer(carol).pressSequentially(')
await alice.locator('.typing', { hasText: 'carol is typing' }).waitFor()
await composer(alice).focus()
await alice.mouse.move(0, 0)
await alice.screenshot({ path: '/tmp/readme.png' })
await browser.close()
