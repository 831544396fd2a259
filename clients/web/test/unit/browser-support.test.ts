/**
 * The browser tests' setup stops whatever it started when another start fails: with no
 * Chromium, the server process it started alongside used to be left running (parent PID 1).
 */
import { describe, expect, it } from 'vitest'

process.env.PARLEY_CHROMIUM = '/nonexistent/chromium'
const { launchBrowser, startAll, stopAll } = await import('../browser/support/browser.ts')

const ticks = () => new Promise(resolve => setImmediate(resolve))

describe('browser test setup', () => {
  it('reports a missing Chromium as a rejection, never a throw in the middle of the setup', async () => {
    let launch: Promise<unknown> | undefined
    expect(() => (launch = launchBrowser())).not.toThrow()
    await expect(launch).rejects.toThrow(/no Chromium at \/nonexistent\/chromium: `npm test` installs/)
  })

  it('startAll waits for every start before it throws, so the ones that succeed are there to stop', async () => {
    let server: string | undefined
    let resolveServer!: (value: string) => void
    const serverStarted = new Promise<string>(resolve => (resolveServer = resolve)).then(started => (server = started))
    let settled = false
    const all = startAll([serverStarted, Promise.reject(new Error('no Chromium'))]).finally(() => (settled = true))
    all.catch(() => undefined)
    for (let i = 0; i < 5; i++) await ticks()
    expect(settled).toBe(false)
    resolveServer('server')
    await expect(all).rejects.toThrow('no Chromium')
    expect(server).toBe('server')
  })

  it('stopAll runs every stop, in order, even after one throws, then throws the first failure', async () => {
    const ran: string[] = []
    const stops = [
      () => {
        ran.push('windows')
        throw new Error('the app threw')
      },
      async () => void ran.push('browser'),
      () => void ran.push('server') as undefined,
    ]
    await expect(stopAll(stops)).rejects.toThrow('the app threw')
    expect(ran).toEqual(['windows', 'browser', 'server'])
  })
})
