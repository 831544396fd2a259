import { randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * The development secret used when no --jwt-secret is configured: generated once, kept
 * under the data directory (mode 0600) so restarts and `parley-server token` agree.
 */
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
