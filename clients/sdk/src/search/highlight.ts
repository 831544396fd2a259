/**
 * Where the matched words are in a result's text. MiniSearch reports which indexed terms
 * matched (after its default processing: split on spaces and punctuation, lower-cased);
 * the same split over the text finds their offsets.
 */
const WORD = /[^\n\r\p{Z}\p{P}]+/gu

export function matchPositions(text: string, terms: readonly string[]): [number, number][] {
  const wanted = new Set(terms)
  const positions: [number, number][] = []
  for (const word of text.matchAll(WORD)) {
    if (wanted.has(word[0].toLowerCase())) positions.push([word.index, word.index + word[0].length])
  }
  return positions
}
