/**
 * The built-in word-list filter: every entry of the list found in a text, in one pass
 * over it (Aho–Corasick: aho-corasick.ts), whatever the list's length. Both the entries
 * and the text are normalised first (normalize.ts).
 *
 * The list file: one entry per line; blank lines and lines starting with `#` are
 * skipped; an entry starting with `?` flags instead of rejecting. An entry matches whole
 * words: the characters either side of it in the text must not be letters or digits
 * (`ass` does not match `class`), except next to scripts written without spaces (Han,
 * kana, Thai …), where an entry matches anywhere.
 */
import { ParleyError, ServerErrorCodes } from '../errors.ts'
import { AhoCorasick } from './aho-corasick.ts'
import { normalizeText } from './normalize.ts'

export type WordDecision = 'reject' | 'flag'

export interface WordMatch {
  decision: WordDecision
  /** The list's entry, normalised. */
  entry: string
}

/** Entries beyond this are refused: the list is read into memory once, at start. */
export const MAX_ENTRIES = 1_000_000
/** An entry is a word or a short phrase. */
export const MAX_ENTRY_LENGTH = 200

const WORD_CHAR = /[\p{L}\p{N}]/u
const UNSPACED = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Thai}\p{Script=Lao}\p{Script=Khmer}\p{Script=Myanmar}]/u

/** Parses the list file's text; throws PARLEY_ERR_INVALID_OPTION naming the line of a bad entry. */
export function parseWordList(text: string): { pattern: string; data: WordDecision }[] {
  const entries = new Map<string, WordDecision>()
  const lines = text.split(/\r?\n/)
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const decision: WordDecision = line.startsWith('?') ? 'flag' : 'reject'
    const entry = normalizeText((decision === 'flag' ? line.slice(1) : line).trim())
    if (entry === '') continue
    if (entry.length > MAX_ENTRY_LENGTH) throw new ParleyError(ServerErrorCodes.INVALID_OPTION, `moderation word list, line ${index + 1}: an entry is at most ${MAX_ENTRY_LENGTH} characters`)
    // The same entry listed to flag and to reject rejects.
    if (entries.get(entry) !== 'reject') entries.set(entry, decision)
    if (entries.size > MAX_ENTRIES) throw new ParleyError(ServerErrorCodes.INVALID_OPTION, `moderation word list: more than ${MAX_ENTRIES} entries`)
  }
  return [...entries].map(([pattern, data]) => ({ pattern, data }))
}

/** Does a match from `start` to `end` in `text` stand as a whole word? */
function wholeWord(text: string, start: number, end: number): boolean {
  return boundary(text.codePointAt(start), codePointBefore(text, start)) && boundary(codePointBefore(text, end), text.codePointAt(end))
}

/** Is there a boundary between an entry's edge character and its neighbour in the text (none: the text's edge)? */
function boundary(inner: number | undefined, outer: number | undefined): boolean {
  if (outer === undefined || inner === undefined) return true
  // Normalised text is lower case: ASCII word characters are a–z and 0–9.
  if (outer < 0x80) return !((outer >= 0x61 && outer <= 0x7a) || (outer >= 0x30 && outer <= 0x39))
  const neighbour = String.fromCodePoint(outer)
  if (!WORD_CHAR.test(neighbour)) return true
  return UNSPACED.test(neighbour) || (inner >= 0x80 && UNSPACED.test(String.fromCodePoint(inner)))
}

/** The code point that ends just before `index` (a surrogate pair counts as one). */
function codePointBefore(text: string, index: number): number | undefined {
  if (index <= 0) return undefined
  const unit = text.charCodeAt(index - 1)
  const low = unit >= 0xdc00 && unit <= 0xdfff
  return low && index >= 2 ? text.codePointAt(index - 2) : unit
}

export class WordFilter {
  readonly #matcher: AhoCorasick | undefined
  readonly #entries: readonly { pattern: string; data: WordDecision }[]
  readonly size: number

  constructor(entries: readonly { pattern: string; data: WordDecision }[]) {
    this.size = entries.length
    this.#entries = entries
    this.#matcher = entries.length > 0 ? new AhoCorasick(entries.map(entry => entry.pattern)) : undefined
  }

  static fromText(text: string): WordFilter {
    return new WordFilter(parseWordList(text))
  }

  /** The strongest entry the text holds (a rejecting one over a flagging one); undefined when none. */
  check(text: string): WordMatch | undefined {
    if (!this.#matcher) return undefined
    const normal = normalizeText(text)
    let found: WordMatch | undefined
    this.#matcher.scan(normal, (start, end, index) => {
      if (!wholeWord(normal, start, end)) return false
      const entry = this.#entries[index]!
      if (entry.data === 'reject') {
        found = { decision: 'reject', entry: entry.pattern }
        return true
      }
      found ??= { decision: 'flag', entry: entry.pattern }
      return false
    })
    return found
  }
}
