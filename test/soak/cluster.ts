/**
 * The servers under test: one node, or several sharing a Redis (cluster mode). Redis is
 * a real redis-server on a free port that the soak can bounce.
 */
import { RedisProcess } from '@parley/sync-server/testing'
import { ServerProcess } from '../support/server-process.ts'

export interface Deployment {
  nodes: ServerProcess[]
  redis?: RedisProcess
  stop(): Promise<void>
}

export async function deploy(nodes: number, extraArgs: string[]): Promise<Deployment> {
  if (nodes === 1) {
    const node = await ServerProcess.start(extraArgs)
    return { nodes: [node], stop: () => node.stop() }
  }
  const redis = await RedisProcess.start()
  const started: ServerProcess[] = []
  for (let i = 0; i < nodes; i++) started.push(await ServerProcess.start(['--redis', redis.url, ...extraArgs]))
  return {
    nodes: started,
    redis,
    async stop() {
      await Promise.all(started.map(node => node.stop()))
      await redis.stop()
    },
  }
}
