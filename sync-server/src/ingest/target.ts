/**
 * The server side of ingest (processor.ts IngestTarget): HTTP publish's checks and service,
 * which resolves once the event is on disk (conversations/service.ts), so a message is
 * acknowledged only then.
 */
import type { AccessRegistry } from '../access/registry.ts'
import type { ConversationService } from '../conversations/service.ts'
import type { ContentPolicy } from '../moderation/policy.ts'
import { screenPublish } from '../moderation/publish-check.ts'
import type { IngestTarget } from './processor.ts'

export interface ServerParts {
  readonly service: ConversationService
  readonly registry: AccessRegistry
  readonly writable: () => boolean
  /** The content policy HTTP publish screens with (moderation/policy.ts): a `reject` is a dead letter. */
  readonly moderation?: ContentPolicy
}

export function ingestTarget({ service, registry, writable, moderation }: ServerParts): IngestTarget {
  return {
    conversationExists: async conversationId => (await registry.entry(conversationId))?.type === 'head',
    async publish(user, conversationId, body) {
      // As http/routes.ts does: members only are judged, before anything is written.
      if (moderation?.active) {
        await service.open(conversationId, user)
        await screenPublish(moderation, conversationId, user, body)
      }
      return service.publish(user, conversationId, body)
    },
    writable,
  }
}
