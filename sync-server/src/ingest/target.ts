/**
 * The server side of ingest (processor.ts IngestTarget): HTTP publish's checks and service, and the
 * writes it leaves queued pushed to storage before a message is acknowledged. The relay
 * core writes accepted changes in batches (relay/log-storage.ts) and the repo saves a
 * changed document after a debounce; an acknowledgement may not wait on either.
 */
import type { DocumentId, Repo } from '@automerge/automerge-repo'
import { readHead, type HeadDoc } from '@parley/core'
import type { AccessRegistry } from '../access/registry.ts'
import type { ConversationService } from '../conversations/service.ts'
import type { ContentPolicy } from '../moderation/policy.ts'
import { screenPublish } from '../moderation/publish-check.ts'
import type { IngestTarget } from './processor.ts'

export interface ServerParts {
  readonly service: ConversationService
  readonly registry: AccessRegistry
  readonly repo: Repo
  /** The relay core, when it serves segments (relay/hub.ts). */
  readonly hub?: { flush(): Promise<void> }
  readonly writable: () => boolean
  /** The content policy HTTP publish screens with (moderation/policy.ts): a `reject` is a dead letter. */
  readonly moderation?: ContentPolicy
}

export function ingestTarget({ service, registry, repo, hub, writable, moderation }: ServerParts): IngestTarget {
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
    async persist(conversationId) {
      await hub?.flush()
      // The head (a new segment is added to it) and, on the repo path, its segments.
      const head = repo.handles[conversationId as DocumentId]
      if (!head?.isReady()) return
      const segments = hub ? [] : readHead(head.doc() as HeadDoc).segments
      const ready = [conversationId, ...segments].filter(id => repo.handles[id as DocumentId]?.isReady()) as DocumentId[]
      await repo.flush(ready)
    },
    writable,
  }
}
