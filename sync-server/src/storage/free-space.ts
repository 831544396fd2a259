/**
 * Free space under the data directory, polled with statfs: a disk can fill up while no
 * document write happens to fail (the other databases in the data directory may be the
 * ones refused), and readiness should say so before a write is lost to it.
 */
import { statfs } from 'node:fs/promises'

export interface FreeSpace {
  /** Bytes available to this process at the last poll (Infinity before the first). */
  readonly bytes: number
  /** False while fewer than `minBytes` are available. */
  readonly sufficient: boolean
  stop(): void
}

export function watchFreeSpace(dir: string, options: { minBytes: number; everyMs: number; onLow?: (bytes: number) => void; onRecovered?: (bytes: number) => void }): FreeSpace {
  let bytes = Number.POSITIVE_INFINITY
  let low = false
  const poll = async (): Promise<void> => {
    try {
      const stats = await statfs(dir)
      bytes = stats.bavail * stats.bsize
    } catch {
      return // the directory is being replaced, or statfs is unsupported: keep the last reading
    }
    if (!low && bytes < options.minBytes) {
      low = true
      options.onLow?.(bytes)
    } else if (low && bytes >= options.minBytes) {
      low = false
      options.onRecovered?.(bytes)
    }
  }
  void poll()
  const timer = setInterval(() => void poll(), options.everyMs)
  timer.unref()
  return {
    get bytes() {
      return bytes
    },
    get sufficient() {
      return !low
    },
    stop: () => clearInterval(timer),
  }
}
