/**
 * HTTP publish under the content policy (docs/moderation.md "Over HTTP"): the text is
 * judged before anything is written; a `reject` answers 422 PARLEY_ERR_CONTENT_REJECTED
 * and stores nothing. Any other verdict is kept for the review of the event once it is
 * numbered (moderator.ts), which then flags it without asking the hook a second time.
 */
import type { MessageEvent } from '@parley/core'
import { ParleyError, ServerErrorCodes } from '../errors.ts'
import type { ContentPolicy } from './policy.ts'

export async function screenPublish(policy: ContentPolicy, conversationId: string, author: string, body: { text: string; priority?: MessageEvent['priority'] }): Promise<void> {
  if (!policy.active) return
  // Not yet written: no id, device or time. The hook sees what the caller sent.
  const draft = { type: 'message', author, text: body.text, ...(body.priority && { priority: body.priority }) } as MessageEvent
  const verdict = await policy.judge(conversationId, draft)
  if (verdict.decision === 'reject') throw new ParleyError(ServerErrorCodes.CONTENT_REJECTED, `not published: the message ${verdict.reason}`)
  policy.remember(conversationId, author, body.text, verdict)
}
