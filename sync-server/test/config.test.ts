import { describe, expect, it } from 'vitest'
import { resolveServerOptions } from '../src/config.ts'

describe('resolveServerOptions', () => {
  it('fills the embedded defaults and freezes', () => {
    const options = resolveServerOptions({})
    expect(options).toMatchObject({ host: '127.0.0.1', port: 8787, dataDir: './data', maxFrameBytes: 4 * 1024 * 1024 })
    expect(Object.isFrozen(options)).toBe(true)
  })

  it.each([[{ colour: 'red' }], [{ port: 70_000 }], [{ port: 1.5 }], [{ logLevel: 'loud' }], [{ jwtSecret: 'short' }], [{ maxFrameBytes: 10 }]])('rejects %j', options => {
    expect(() => resolveServerOptions(options as never)).toThrow(expect.objectContaining({ code: 'PARLEY_ERR_INVALID_OPTION' }))
  })

  it('takes the relay core (off by default) on a single node only', () => {
    expect(resolveServerOptions({}).relayCore).toBe(true)
    expect(resolveServerOptions({ relayCore: false }).relayCore).toBe(false)
    // A cluster serves segments from the repo: off by default there, refused when asked for.
    expect(resolveServerOptions({ redis: 'redis://127.0.0.1:6379' }).relayCore).toBe(false)
    expect(() => resolveServerOptions({ relayCore: true, redis: 'redis://127.0.0.1:6379' })).toThrow(expect.objectContaining({ code: 'PARLEY_ERR_INVALID_OPTION', message: expect.stringContaining('cannot be combined with redis') }))
    expect(() => resolveServerOptions({ relayCore: 'yes' as never })).toThrow(expect.objectContaining({ code: 'PARLEY_ERR_INVALID_OPTION' }))
  })
})
