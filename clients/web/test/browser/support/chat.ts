/** What a person does and sees in the app, in the words of its labels (a page object). */
import type { Locator, Page } from 'playwright-core'
import type { UserWindow } from './browser.ts'

export class Chat {
  readonly user: string
  readonly page: Page

  constructor({ user, page }: UserWindow) {
    this.user = user
    this.page = page
  }

  get composer(): Locator {
    return this.page.getByRole('textbox', { name: /^Message / })
  }

  /** The connection badge; `data-status` is what it shows, `data-client-status` the client's own status. */
  get badge(): Locator {
    return this.page.locator('.badge')
  }

  get typing(): Locator {
    return this.page.locator('.typing')
  }

  /** The conversation's row in the list. */
  row(title: string): Locator {
    return this.page.locator('.conversation-row').filter({ has: this.page.locator('.row-title', { hasText: new RegExp(`^${title}$`) }) })
  }

  /** The message whose text is exactly `text`. */
  message(text: string): Locator {
    return this.page.locator('.message').filter({ has: this.page.locator('.text', { hasText: new RegExp(`^${escape(text)}$`) }) })
  }

  async createConversation(title: string, members: string[]): Promise<void> {
    await this.page.getByRole('button', { name: 'New conversation' }).click()
    await this.page.getByRole('textbox', { name: 'Title (optional)' }).fill(title)
    await this.page.getByRole('textbox', { name: 'Members' }).fill(members.join(', '))
    await this.page.getByRole('button', { name: 'Create' }).click()
    await this.page.locator('.conversation-title h1', { hasText: title }).waitFor()
  }

  async openConversation(title: string): Promise<void> {
    await this.row(title).click()
    await this.page.locator('.conversation-title h1', { hasText: title }).waitFor()
  }

  async send(text: string): Promise<void> {
    await this.composer.fill(text)
    await this.composer.press('Enter')
    await this.message(text).waitFor()
  }

  /** The timeline as shown, oldest first: each message's ID and text. */
  timeline(): Promise<{ id: string; text: string }[]> {
    return this.page.locator('.message').evaluateAll(items => items.map(item => ({ id: item.getAttribute('data-id') ?? '', text: item.querySelector('.text')?.textContent ?? '' })))
  }

  /** Waits until the timeline holds exactly these texts, in any order (then the caller compares orders). */
  async waitForTexts(texts: string[]): Promise<void> {
    await this.page.waitForFunction(
      expected => {
        const shown = Array.from(document.querySelectorAll('.message .text')).map(node => node.textContent ?? '').sort()
        return JSON.stringify(shown) === JSON.stringify([...expected].sort())
      },
      texts,
    )
  }

  /** Waits until no element matches `selector` (a locator waits for one element only). */
  async waitForNone(selector: string): Promise<void> {
    await this.page.waitForFunction(css => document.querySelector(css) === null, selector)
  }

  /** Waits until the client's own connection status is `status` (the badge may say offline sooner). */
  async waitForClientStatus(predicate: 'online' | 'not-online'): Promise<void> {
    const selector = predicate === 'online' ? '.badge[data-client-status="online"]' : '.badge:not([data-client-status="online"])'
    await this.page.locator(selector).waitFor()
  }

  /** Resolves once the service worker controls the page: it cached the whole app before it took over. */
  async whenAvailableOffline(): Promise<void> {
    await this.page.waitForFunction(() => navigator.serviceWorker.controller !== null)
  }
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
