/**
 * Moderation as the options ask for it (`moderationWords`, `moderationHook`: docs/moderation.md):
 * nothing without either; otherwise the word list read once, the policy, the decisions'
 * store under the data directory and the moderator, handed what is numbered at least once
 * (events/notifications.ts).
 */
import type { FastifyBaseLogger } from 'fastify'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ResolvedServerOptions } from '../config.ts'
import { ParleyError, ServerErrorCodes } from '../errors.ts'
import type { EventIndex } from '../events/event-index.ts'
import type { Notifications } from '../events/notifications.ts'
import { Moderator, type ModeratorContext } from './moderator.ts'
import { ContentPolicy } from './policy.ts'
import { ModerationStore } from './store.ts'
import { WordFilter } from './word-filter.ts'

export interface Moderation {
  policy: ContentPolicy
  moderator: Moderator
  store: ModerationStore
  close(): Promise<void>
}

type Options = Pick<ResolvedServerOptions, 'moderationWords' | 'moderationHook' | 'moderationHookTimeoutMs' | 'moderationHookDefault' | 'dataDir'>

export async function openModeration(options: Options, ctx: { index: EventIndex; notifications: Pick<Notifications, 'add'>; write: ModeratorContext['write']; log: FastifyBaseLogger }): Promise<Moderation | undefined> {
  if (options.moderationWords === undefined && options.moderationHook === undefined) return undefined
  const words = options.moderationWords === undefined ? undefined : WordFilter.fromText(await readWordList(options.moderationWords))
  const policy = new ContentPolicy({
    ...(words && { words }),
    ...(options.moderationHook !== undefined && { hook: { url: options.moderationHook, timeoutMs: options.moderationHookTimeoutMs, whenDown: options.moderationHookDefault } }),
    onHookDown: why => ctx.log.warn({ why, whenDown: options.moderationHookDefault }, 'moderation hook unavailable: its default applies'),
  })
  const store = new ModerationStore(join(options.dataDir, 'moderation'))
  await store.open()
  const moderator = new Moderator({ policy, store, index: ctx.index, notifications: ctx.notifications, write: ctx.write, log: ctx.log })
  ctx.log.info({ words: words?.size ?? 0, hook: options.moderationHook !== undefined }, 'moderation on')
  return {
    policy,
    moderator,
    store,
    async close() {
      await moderator.close()
      await store.close()
    },
  }
}

async function readWordList(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (cause) {
    throw new ParleyError(ServerErrorCodes.INVALID_OPTION, `moderation word list: cannot read ${path}: ${(cause as Error).message}`, { cause })
  }
}
