/**
 * The setup most browser test files share: one real server and one Chromium for the file,
 * the windows a test opened closed after it (failing it if a page threw).
 */
import type { Browser } from 'playwright-core'
import { afterAll, afterEach, beforeAll } from 'vitest'
import { launchBrowser, Windows } from './browser.ts'
import { WebServer } from './web-server.ts'

/** Registers the file's hooks; call the result inside a test for its windows. */
export function browserSuite(): () => Windows {
  let server: WebServer | undefined
  let browser: Browser | undefined
  let windows: Windows | undefined
  beforeAll(async () => {
    ;[server, browser] = await Promise.all([WebServer.start(), launchBrowser()])
    windows = new Windows(browser, server)
  })
  afterEach(() => windows?.closeAll())
  afterAll(async () => {
    await browser?.close()
    await server?.stop()
  })
  return () => windows!
}
