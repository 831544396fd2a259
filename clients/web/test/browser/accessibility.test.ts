/**
 * Accessibility basics: axe finds no serious or critical violation on any screen, and a
 * person using only the keyboard can sign in, start a conversation, send, edit (Escape
 * cancels) and react.
 */
import { AxeBuilder } from '@axe-core/playwright'
import type { Page } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { screenshot } from './support/artifacts.ts'
import { Chat } from './support/chat.ts'
import { browserSuite } from './support/suite.ts'

const windows = browserSuite()

/** axe's serious and critical findings, as "rule: target" lines (empty when there are none). */
async function seriousViolations(page: Page): Promise<string[]> {
  const { violations } = await new AxeBuilder({ page }).analyze()
  return violations
    .filter(violation => violation.impact === 'serious' || violation.impact === 'critical')
    .flatMap(violation => violation.nodes.map(node => `${violation.id}: ${node.target.join(' ')} (${violation.help})`))
}

/** The label of what has the keyboard focus, or its text without the parts hidden from screen readers. */
function focusedLabel(): string {
  const element = document.activeElement as HTMLElement | null
  if (!element || element === document.body) return ''
  const label = element.getAttribute('aria-label') ?? (element.id ? document.querySelector(`label[for="${element.id}"]`)?.textContent : null)
  if (label) return label.trim()
  const copy = element.cloneNode(true) as HTMLElement
  for (const hidden of Array.from(copy.querySelectorAll('[aria-hidden="true"]'))) hidden.remove()
  return (copy.textContent ?? '').replace(/\s+/g, ' ').trim()
}

/** Waits until the focus is on the control labelled `label` (focus may move a frame after a key). */
async function expectFocus(page: Page, label: string): Promise<void> {
  try {
    await page.waitForFunction(`(${focusedLabel.toString()})() === ${JSON.stringify(label)}`, undefined, { timeout: 5_000 })
  } catch {
    expect(await page.evaluate(`(${focusedLabel.toString()})()`)).toBe(label)
  }
}

describe('accessibility', () => {
  it('has no serious axe violations on the sign-in screen, the chat and its dialogs', async () => {
    const signInScreen = await windows().open('visitor')
    await signInScreen.page.getByLabel('Your name').waitFor()
    expect(await seriousViolations(signInScreen.page)).toEqual([])

    const [alice, bob] = (await Promise.all([windows().signIn('alice'), windows().signIn('bob')])).map(window => new Chat(window)) as [Chat, Chat]
    await alice.createConversation('Review', ['bob'])
    await alice.send('Draft is ready')
    await alice.send('Typo in the second one')
    await bob.openConversation('Review')
    await bob.send('Looks good!')
    await alice.message('Typo in the second one').hover()
    await alice.message('Typo in the second one').getByRole('button', { name: 'Delete' }).click()
    await alice.page.getByRole('dialog', { name: 'Delete this message?' }).getByRole('button', { name: 'Delete' }).click()
    await bob.message('Draft is ready').hover()
    await bob.message('Draft is ready').getByRole('button', { name: 'React' }).click()
    await bob.page.getByRole('button', { name: 'React with 🎉' }).click()
    await alice.message('Draft is ready').locator('.reaction').waitFor()
    await alice.message('Draft is ready').locator('.seen-by').waitFor()
    expect(await seriousViolations(alice.page)).toEqual([])

    await alice.page.getByRole('button', { name: 'New conversation' }).click()
    await alice.page.getByRole('dialog', { name: 'New conversation' }).waitFor()
    expect(await seriousViolations(alice.page)).toEqual([])
    await alice.page.keyboard.press('Escape')

    await alice.page.getByRole('button', { name: 'Members' }).click()
    await alice.page.getByRole('dialog', { name: 'Members' }).waitFor()
    expect(await seriousViolations(alice.page)).toEqual([])
  })

  it('works with the keyboard alone: sign in, start a conversation, send, edit (Escape cancels), react', async () => {
    const { page } = await windows().open('dana')
    const chat = new Chat({ user: 'dana', page, context: page.context() })

    // Sign in: the name field comes first, Enter submits.
    await page.getByLabel('Your name').waitFor()
    await page.keyboard.press('Tab')
    await expectFocus(page, 'Your name')
    await page.keyboard.type('dana')
    await page.keyboard.press('Enter')
    await page.locator('.badge[data-status="online"]').waitFor()

    // The top bar (the notifications switch, shown once the server says it sends them; sign out), then the conversation list's button.
    await page.getByRole('switch', { name: 'Notifications' }).waitFor()
    await page.keyboard.press('Tab')
    await expectFocus(page, 'Notifications')
    await page.keyboard.press('Tab')
    await expectFocus(page, 'Sign out')
    await page.keyboard.press('Tab')
    await expectFocus(page, 'New conversation')
    await page.keyboard.press('Enter')
    await page.getByRole('dialog', { name: 'New conversation' }).waitFor()
    await expectFocus(page, 'Title (optional)')
    await page.keyboard.type('Keyboard club')
    await page.keyboard.press('Tab')
    await expectFocus(page, 'Members')
    await page.keyboard.type('erin')
    await page.keyboard.press('Enter')

    // The new conversation opens with the composer focused; Enter sends.
    await page.locator('.conversation-title h1', { hasText: 'Keyboard club' }).waitFor()
    await expectFocus(page, 'Message Keyboard club')
    await page.keyboard.type('Hello from the keyboard')
    await page.keyboard.press('Enter')
    await chat.message('Hello from the keyboard').waitFor()
    // Tab reaches the Send button (enabled once there is text).
    await page.keyboard.type('Second line of thought')
    await page.keyboard.press('Tab')
    await expectFocus(page, 'Send')
    await page.keyboard.press('Enter')
    await chat.message('Second line of thought').waitFor()
    await page.keyboard.press('Shift+Tab')
    await expectFocus(page, 'Message Keyboard club')

    // ArrowUp in the empty composer edits the last own message; Escape cancels and leaves it as it was.
    await page.keyboard.press('ArrowUp')
    await expectFocus(page, 'Edit message')
    await page.keyboard.type(' and more')
    await page.keyboard.press('Escape')
    await page.getByLabel('Edit message').waitFor({ state: 'detached' })
    await expectFocus(page, 'Edit')
    expect(await chat.message('Second line of thought').count()).toBe(1)
    expect(await chat.message('Second line of thought').locator('.edited').count()).toBe(0)

    // Enter on "Edit" edits again; Enter saves.
    await page.keyboard.press('Enter')
    await expectFocus(page, 'Edit message')
    await page.keyboard.press('ControlOrMeta+A')
    await page.keyboard.type('Second line, edited')
    await page.keyboard.press('Enter')
    await chat.message('Second line, edited').locator('.edited').waitFor()

    // Saving returns focus to "Edit"; back one is "React": Enter opens the picker, Tab reaches an emoji, Enter reacts.
    await expectFocus(page, 'Edit')
    await page.keyboard.press('Shift+Tab')
    await expectFocus(page, 'React')
    await page.keyboard.press('Enter')
    await page.getByRole('group', { name: 'Pick a reaction' }).waitFor()
    await page.keyboard.press('Tab')
    await expectFocus(page, 'React with 👍')
    await page.keyboard.press('Enter')
    await chat.message('Second line, edited').locator('.reaction', { hasText: '1' }).waitFor()
    await expectFocus(page, 'React')
    await screenshot(page, 'keyboard-only')
  })
})
