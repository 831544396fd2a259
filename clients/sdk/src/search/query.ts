/**
 * What `client.search` accepts and returns, checked once at the boundary (CONVENTIONS 7):
 * a bad query or filter is a PARLEY_ERR_INVALID_OPTION, never an exception from MiniSearch.
 */
import { ClientErrorCodes, ParleyError } from '../errors.ts'

export interface SearchOptions {
  /** Only this conversation (its ID). */
  conversation?: string
  /** Only messages by this user. */
  author?: string
  /** Only messages sent before this time (ms since the epoch, or a Date). */
  before?: number | Date
  /** Only messages sent after this time. */
  after?: number | Date
  /** At most this many results (default 50, at most 1,000). */
  limit?: number
}

export interface SearchResult {
  conversation: string
  /** The message's event ID. */
  id: string
  author: string
  /** When it was sent (the message's hybrid clock time, ms). */
  at: number
  /** Its current text (the latest edit). */
  text: string
  /** [start, end) offsets in `text` (UTF-16 code units) of each word that matched, for highlighting. */
  matches: [number, number][]
  /** MiniSearch's relevance within the result's shard (results come newest first, not by score). */
  score: number
}

export interface ResolvedSearch {
  query: string
  conversation?: string
  author?: string
  before: number
  after: number
  limit: number
}

/** Longest query accepted, in characters. */
export const MAX_QUERY_LENGTH = 1000
const MAX_LIMIT = 1000

function invalid(message: string): never {
  throw new ParleyError(ClientErrorCodes.INVALID_OPTION, message)
}

function time(name: string, value: number | Date | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const ms = value instanceof Date ? value.getTime() : value
  if (typeof ms !== 'number' || !Number.isFinite(ms)) invalid(`search ${name} must be a time (ms since the epoch, or a Date)`)
  return ms
}

function id(name: string, value: unknown): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) invalid(`search ${name} must be a non-empty string`)
  return value
}

export function resolveSearch(query: unknown, options: SearchOptions = {}): ResolvedSearch {
  if (typeof query !== 'string') invalid('the search query must be a string')
  if (query.length > MAX_QUERY_LENGTH) invalid(`the search query is longer than ${MAX_QUERY_LENGTH} characters`)
  for (const key of Object.keys(options)) {
    if (!['conversation', 'author', 'before', 'after', 'limit'].includes(key)) invalid(`unknown search option ${key}`)
  }
  const limit = options.limit ?? 50
  if (!Number.isSafeInteger(limit) || limit <= 0 || limit > MAX_LIMIT) invalid(`search limit must be an integer from 1 to ${MAX_LIMIT}`)
  return {
    query: query.trim(),
    conversation: id('conversation', options.conversation),
    author: id('author', options.author),
    before: time('before', options.before, Infinity),
    after: time('after', options.after, -Infinity),
    limit,
  }
}
