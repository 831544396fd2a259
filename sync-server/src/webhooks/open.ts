/** Opens the webhook queue the options ask for: PostgreSQL (shared by a cluster) with `postgres`, else LevelDB under `dir`. */
import { WebhookDispatcher, type WebhookQueue } from './dispatcher.ts'
import type { WebhookOptions } from './options.ts'
import { PostgresWebhookDispatcher } from './postgres-dispatcher.ts'

export function openWebhooks(options: WebhookOptions): Promise<WebhookQueue> {
  return options.postgres ? PostgresWebhookDispatcher.open(options) : WebhookDispatcher.open(options)
}
