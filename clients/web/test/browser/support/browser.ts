/**
 * Debian's Chromium driven by playwright-core (never a downloaded browser). Each user is
 * a browser context of their own: separate storage (IndexedDB, service worker), like two
 * people on two machines.
 */
import { existsSync } from 'node:fs'
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core'
import { screenshot } from './artifacts.ts'
import type { TestContext } from 'vitest'
import type { WebServer } from './web-server.ts'

const CHROMIUM = process.env.PARLEY_CHROMIUM ?? '/usr/bin/chromium'
/** Console lines kept per window for a failed test's report. */
const CONSOLE_LINES = 200

/** As the machine notes say: without the background-networking flags Chromium tries hosts this machine cannot reach. */
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** Async, so a missing Chromium rejects like any other launch failure instead of throwing mid-setup. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: \`npm test\` installs Debian's chromium when run as root (scripts/test-prerequisites.sh); otherwise install it or set PARLEY_CHROMIUM`)
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS })
}

/**
 * Waits for every start, then throws the first failure: whatever did start is assigned by
 * then (each start assigns its own result), so the file's afterAll stops it.
 */
export async function startAll(starts: Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(starts)
  for (const result of results) if (result.status === 'rejected') throw result.reason
}

/** Runs every stop in order, even after one throws; then throws the first failure. */
export async function stopAll(stops: (() => Promise<unknown> | undefined)[]): Promise<void> {
  const failures: unknown[] = []
  for (const stop of stops) await (async () => stop())().catch((error: unknown) => failures.push(error))
  if (failures.length > 0) throw failures[0]
}

/** `[service worker <url>] ` for a line of the service worker (it has no page), `[worker <url>] ` for a page's worker. */
function origin(message: ConsoleMessage): string {
  const worker = message.worker()
  return worker ? `[${message.page() ? 'worker' : 'service worker'} ${worker.url()}] ` : ''
}

export interface UserWindow {
  user: string
  context: BrowserContext
  page: Page
}

/** The windows a test opened; closing them fails the test if any page threw. */
export class Windows {
  readonly #browser: Browser
  readonly #server: WebServer
  readonly #open: UserWindow[] = []
  readonly #errors: string[] = []
  /** Each window's newest console lines, its service worker's among them, printed when a test fails (CI keeps only the log). */
  readonly #console = new Map<string, string[]>()

  constructor(browser: Browser, server: WebServer) {
    this.#browser = browser
    this.#server = server
  }

  /** A fresh browser profile with the app open at the sign-in screen. */
  async open(user: string): Promise<UserWindow> {
    const context = await this.#browser.newContext({ viewport: { width: 1180, height: 760 }, locale: 'en-GB', timezoneId: 'Europe/London' })
    context.setDefaultTimeout(30_000)
    const page = await context.newPage()
    page.on('pageerror', error => this.#errors.push(`${user}: ${error.stack ?? error.message}`))
    const lines: string[] = []
    this.#console.set(user, lines)
    // The context's, not the page's: only a context listener gets the service worker's lines
    // (a page listener alone is not sent them). Each line of a worker says whose it is.
    context.on('console', message => lines.push(`${new Date().toISOString()} ${origin(message)}${message.type()}: ${message.text()}`) > CONSOLE_LINES && lines.shift())
    await page.goto(this.#server.url)
    const window = { user, context, page }
    this.#open.push(window)
    return window
  }

  /** Signs in through the development sign-in form, and waits until the client is online. */
  async signIn(user: string): Promise<UserWindow> {
    const window = await this.open(user)
    await window.page.getByLabel('Your name').fill(user)
    await window.page.getByRole('button', { name: 'Sign in', exact: true }).click()
    await window.page.locator('.badge[data-status="online"]').waitFor()
    return window
  }

  /** Closes every window; after a failed test (the afterEach hook's context), first saves a screenshot of each and prints its text and console. */
  async closeAll(test?: TestContext): Promise<void> {
    const failed = test?.task.result?.state === 'fail' ? test.task.name : undefined
    if (failed !== undefined) {
      for (const { user, page } of this.#open) {
        const name = `failed-${failed.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}-${user}`
        await screenshot(page, name).catch(() => undefined)
        const text = await page.locator('body').innerText({ timeout: 1000 }).catch((error: Error) => `(no text: ${error.message})`)
        console.error(`[${user}] test failed; screenshot test/artifacts/web/${name}.png\n--- page text:\n${text.slice(0, 3000)}\n--- console:\n${(this.#console.get(user) ?? []).join('\n')}`)
      }
    }
    this.#console.clear()
    await Promise.all(this.#open.splice(0).map(window => window.context.close()))
    if (this.#errors.length > 0) throw new Error(`the app threw in the browser:\n${this.#errors.splice(0).join('\n')}`)
  }
}
