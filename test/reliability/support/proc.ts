/** Resident memory of a process, from /proc (Linux). */
import { readFileSync } from 'node:fs'

export function rssMiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match ? Number(match[1]) / 1024 : Number.NaN
}

/** Samples a process's RSS every `everyMs` until stopped; resolves with the peak and the samples. */
export function sampleRss(pid: number, everyMs = 50): { stop(): { peakMiB: number; samples: number[] } } {
  const samples: number[] = []
  const timer = setInterval(() => {
    try {
      samples.push(rssMiB(pid))
    } catch {
      // the process exited
    }
  }, everyMs)
  return {
    stop() {
      clearInterval(timer)
      return { peakMiB: Math.max(...samples), samples }
    },
  }
}
