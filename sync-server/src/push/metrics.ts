/** Metrics of Web Push on the server's registry (docs/push.md): counts only, no user or device. */
import { Counter, Gauge, type Registry } from 'prom-client'
import type { WebhookQueue } from '../webhooks/dispatcher.ts'

export type PushOutcome = 'sent' | 'gone' | 'failed'

export function pushMetrics(register: Registry, queue: () => WebhookQueue | undefined): (outcome: PushOutcome) => void {
  const registers = [register]
  const attempts = new Counter({ name: 'parley_push_attempts_total', help: 'Web Push requests by outcome (sent: the push service took it; gone: it answered 404/410 and the subscription was deleted; failed: retried later or dead-lettered).', labelNames: ['outcome'], registers })
  new Gauge({
    name: 'parley_push_queue_depth',
    help: 'Web Push messages waiting to be sent (due or backing off).',
    registers,
    collect() {
      this.set(queue()?.stats().queued ?? 0)
    },
  })
  new Gauge({
    name: 'parley_push_dead_letters',
    help: 'Web Push messages that exhausted their attempts (GET /v1/admin/push/dead-letters).',
    registers,
    collect() {
      this.set(queue()?.stats().deadLetters ?? 0)
    },
  })
  for (const outcome of ['sent', 'gone', 'failed']) attempts.labels(outcome).inc(0)
  return outcome => attempts.labels(outcome).inc()
}
