import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * The development secret used when no --jwt-secret is configured: generated once, kept
 * under the data directory (mode 0600) so restarts and `parley-server token` agree.
 */
/**
 * The development secret a server already generated under `dataDir`, or undefined when no
 * server ever ran there. `parley-server token` reads it this way: a token signed with a
 * secret it had just invented would be refused by every server.
 */
export async function existingDevelopmentSecret(dataDir: string): Promise<{ secret: string; path: string } | undefined> {
  const path = join(dataDir, 'dev-secret')
  try {
    return { secret: (await readFile(path, 'utf8')).trim(), path }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

export async function developmentSecret(dataDir: string): Promise<{ secret: string; path: string; created: boolean }> {
  const path = join(dataDir, 'dev-secret')
  try {
    return { secret: (await readFile(path, 'utf8')).trim(), path, created: false }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
  }
  await mkdir(dataDir, { recursive: true })
  const secret = randomBytes(32).toString('hex')
  await writeFile(path, `${secret}\n`, { mode: 0o600, flag: 'wx' }).catch(async error => {
    // Another process created it first: use theirs.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  })
  return { secret: (await readFile(path, 'utf8')).trim(), path, created: true }
}
