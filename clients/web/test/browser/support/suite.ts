/**
 * The setup most browser test files share: one real server and one Chromium for the file,
 * the windows a test opened closed after it (failing it if a page threw).
 */
import type { Browser } from 'playwright-core'
import { afterAll, afterEach, beforeAll } from 'vitest'
import { launchBrowser, startAll, stopAll, Windows } from './browser.ts'
import { WebServer } from './web-server.ts'

/** Registers the file's hooks; call the result inside a test for its windows. */
export function browserSuite(): () => Windows {
  let server: WebServer | undefined
  let browser: Browser | undefined
  let windows: Windows | undefined
  beforeAll(async () => {
    // Each assigned as soon as it is up: when the other fails, afterAll still stops it.
    await startAll([WebServer.start().then(started => (server = started)), launchBrowser().then(launched => (browser = launched))])
    windows = new Windows(browser!, server!)
  })
  afterEach(context => windows?.closeAll(context))
  afterAll(() => stopAll([() => browser?.close(), () => server?.stop()]))
  return () => windows!
}
