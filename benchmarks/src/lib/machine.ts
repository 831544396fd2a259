import { cpus, totalmem } from 'node:os'
import { availableParallelism } from 'node:os'

export interface Machine {
  nproc: number
  memoryGiB: number
  cpu: string
  node: string
}

export function machine(): Machine {
  return {
    nproc: availableParallelism(),
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
  }
}

export function describeMachine(m: Machine): string {
  return `${m.nproc} cores (nproc), ${m.memoryGiB} GiB, ${m.cpu}, Node ${m.node}`
}
