/**
 * The one text form the word filter compares: the list's entries and every message are
 * brought to it alike (docs/moderation.md "The word list"). Compatibility decomposition
 * (NFKD) maps full-width and other compatibility forms to their plain letters (`ｆｏｏ` →
 * `foo`, `ﬁ` → `fi`) and splits accented letters into letter + combining mark; the marks
 * are dropped (`é` → `e`), after lower-casing, which may add one (`İ` → `i̇`); any run of
 * white space is one space (an entry of several words matches however they are spaced).
 * Linear in the text.
 */
const MARKS = /\p{M}+/gu
const SPACES = /\s+/gu

export function normalizeText(text: string): string {
  return text.normalize('NFKD').toLowerCase().replace(MARKS, '').replace(SPACES, ' ')
}
