/**
 * Words as MiniSearch splits them (its default tokenizer: runs between spaces and
 * punctuation, lower-cased), and where a result's text has the words a query asked for.
 * As in search-as-you-type, the query's last word matches any word it starts (it may be
 * half typed) and the others match whole words only.
 */
const WORD = /[^\n\r\p{Z}\p{P}]+/gu

export interface Term {
  text: string
  prefix: boolean
}

export function queryTerms(query: string): Term[] {
  const words = [...new Set(Array.from(query.matchAll(WORD), word => word[0].toLowerCase()))]
  return words.map((text, i) => ({ text, prefix: i === words.length - 1 }))
}

function matches(word: string, term: Term): boolean {
  return term.prefix ? word.startsWith(term.text) : word === term.text
}

/** Whether every term matches some word of `text`. */
export function hasAll(text: string, terms: readonly Term[]): boolean {
  if (terms.length === 0) return true
  const words = Array.from(text.matchAll(WORD), word => word[0].toLowerCase())
  return terms.every(term => words.some(word => matches(word, term)))
}

export function matchPositions(text: string, terms: readonly Term[]): [number, number][] {
  const positions: [number, number][] = []
  for (const word of text.matchAll(WORD)) {
    const lower = word[0].toLowerCase()
    if (terms.some(term => matches(lower, term))) positions.push([word.index, word.index + word[0].length])
  }
  return positions
}
