/**
 * The content policy, the same for sync and HTTP: the word list first (a rejecting entry
 * decides at once), then the operator's hook if one is set; the stronger verdict wins
 * (reject over flag over allow). When the hook is down, `hookDefault` stands in for its
 * answer (docs/moderation.md "When the hook is down").
 */
import { BoundedMap, type ParleyEvent } from '@parley/core'
import { createHash } from 'node:crypto'
import { askHook, type HookDecision } from './hook.ts'
import type { WordFilter } from './word-filter.ts'

export type Decision = HookDecision

export interface Verdict {
  decision: Decision
  /** What the author is told (the `moderated` event's reason). */
  reason: string
  /** What decided: the word list, the hook, or the default while the hook was down. */
  source: 'words' | 'hook' | 'default'
  /** The list's entry that matched, for operators (never written into the log). */
  entry?: string
}

export interface PolicyOptions {
  words?: WordFilter
  hook?: { url: string; timeoutMs: number; whenDown: Decision }
  /** Told each time the hook is down, with why. */
  onHookDown?: (why: string) => void
}

/** Verdicts the HTTP publish computed, kept for the review of the same event once numbered (MAX_REMEMBERED). */
const MAX_REMEMBERED = 1000
const STRENGTH: Record<Decision, number> = { allow: 0, flag: 1, reject: 2 }

export const WORD_REASONS: Record<Exclude<Decision, 'allow'>, string> = {
  reject: 'contains a word this server does not allow',
  flag: 'contains a word this server reviews',
}

/** The text a policy judges: a message's or an edit's; other events carry none. */
export function judgedText(event: ParleyEvent): string | undefined {
  return event.type === 'message' || event.type === 'edit' ? event.text : undefined
}

export class ContentPolicy {
  readonly #options: PolicyOptions
  /** The most recently remembered, fewer than MAX_REMEMBERED. Keys are hashes of client text. */
  readonly #remembered = new BoundedMap<string, Verdict>(MAX_REMEMBERED)

  constructor(options: PolicyOptions) {
    this.#options = options
  }

  get active(): boolean {
    return (this.#options.words?.size ?? 0) > 0 || this.#options.hook !== undefined
  }

  /** The verdict on an event's text (a message or an edit); `allow` for events with no text. */
  async judge(conversationId: string, event: ParleyEvent): Promise<Verdict> {
    const text = judgedText(event)
    if (text === undefined) return { decision: 'allow', reason: '', source: 'words' }
    const match = this.#options.words?.check(text)
    const words: Verdict = match ? { decision: match.decision, reason: WORD_REASONS[match.decision], source: 'words', entry: match.entry } : { decision: 'allow', reason: '', source: 'words' }
    const hook = this.#options.hook
    if (words.decision === 'reject' || !hook) return words
    const answer = await askHook(hook.url, hook.timeoutMs, conversationId, event)
    let fromHook: Verdict
    if ('down' in answer) {
      this.#options.onHookDown?.(answer.down)
      fromHook = { decision: hook.whenDown, reason: hook.whenDown === 'allow' ? '' : 'held for review while the moderation service was unavailable', source: 'default' }
    } else {
      fromHook = { decision: answer.decision, reason: answer.reason ?? (answer.decision === 'allow' ? '' : `${answer.decision === 'reject' ? 'rejected' : 'flagged'} by this server's moderation`), source: 'hook' }
    }
    return STRENGTH[fromHook.decision] > STRENGTH[words.decision] ? fromHook : words
  }

  /** Keeps a verdict (from an HTTP publish) for `recall` with the same event, which the review then need not ask the hook again about. */
  remember(conversationId: string, author: string, text: string, verdict: Verdict): void {
    const key = rememberKey(conversationId, author, text)
    this.#remembered.set(key, verdict)
  }

  /** The verdict `remember`ed for this text, taken (once). */
  recall(conversationId: string, author: string, text: string): Verdict | undefined {
    const key = rememberKey(conversationId, author, text)
    const verdict = this.#remembered.get(key)
    this.#remembered.delete(key)
    return verdict
  }
}

function rememberKey(conversationId: string, author: string, text: string): string {
  return createHash('sha256').update(conversationId).update('\0').update(author).update('\0').update(text).digest('base64')
}
