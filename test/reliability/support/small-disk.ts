/**
 * A small filesystem for the data directory: a tmpfs of a few MiB, mounted by the test
 * where it may (root, as in CI); and a filler file that takes all of its free space
 * until released.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, open, rm, rmdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface SmallDisk {
  dir: string
  /** Writes a filler file until the filesystem is full; resolves with its size in bytes. */
  fill(): Promise<number>
  /** Deletes the filler: the space is back. */
  release(): Promise<void>
  unmount(): Promise<void>
}

/** Mounts a tmpfs of `mib` MiB, or resolves undefined where mounting is not permitted. */
export async function mountSmallDisk(mib: number): Promise<SmallDisk | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-small-disk-'))
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${mib}m`, 'tmpfs', dir])
  } catch {
    await rmdir(dir)
    return undefined
  }
  const filler = join(dir, 'filler')
  return {
    dir,
    async fill() {
      const file = await open(filler, 'a')
      const chunk = Buffer.alloc(64 * 1024, 1)
      let size = 0
      try {
        for (;;) {
          const { bytesWritten } = await file.write(chunk)
          size += bytesWritten
          if (bytesWritten < chunk.length) break
        }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error
      } finally {
        await file.close()
      }
      return size
    },
    release: () => rm(filler, { force: true }),
    async unmount() {
      await run('umount', ['-l', dir]).catch(() => undefined)
      await rmdir(dir).catch(() => undefined)
    },
  }
}
