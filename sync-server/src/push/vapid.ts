/**
 * The server's VAPID key pair (RFC 8292): given by the operator, or generated once into
 * `<data>/vapid.json` (mode 0600) and read back on every later start, since every
 * subscription a browser made is bound to the public key it was made with.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import webpush from 'web-push'
import { ParleyError, ServerErrorCodes } from '../errors.ts'
import { base64urlLength } from './options.ts'

export interface VapidKeys { publicKey: string; privateKey: string }

export async function vapidKeys(dataDir: string, given: Partial<VapidKeys>): Promise<VapidKeys & { generated?: string }> {
  if (given.publicKey !== undefined && given.privateKey !== undefined) return { publicKey: given.publicKey, privateKey: given.privateKey }
  const path = join(dataDir, 'vapid.json')
  const stored = await readFile(path, 'utf8').then(text => JSON.parse(text) as VapidKeys, (error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined
    throw error
  })
  if (stored) {
    if (base64urlLength(stored.publicKey) !== 65 || base64urlLength(stored.privateKey) !== 32) throw new ParleyError(ServerErrorCodes.INVALID_OPTION, `${path} does not hold a VAPID key pair; remove it to generate a new one (subscriptions made with the old key stop working)`)
    return stored
  }
  const keys = webpush.generateVAPIDKeys()
  try {
    // 'wx': two servers starting on one data directory cannot both write a pair.
    await writeFile(path, `${JSON.stringify(keys)}\n`, { mode: 0o600, flag: 'wx' })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return vapidKeys(dataDir, given)
    throw error
  }
  return { ...keys, generated: path }
}
