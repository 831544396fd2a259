const ASCII = /^[\x00-\x7f]*$/

/** UTF-8 bytes of a string, without encoding it (a lone surrogate counts as U+FFFD would: 3). */
export function utf8Length(text: string): number {
  // Most text is ASCII: one native scan instead of a loop over every character.
  if (ASCII.test(text)) return text.length
  let bytes = text.length
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x80) continue
    if (code < 0x800) bytes += 1
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2 // a surrogate pair: 2 units, 4 bytes
      i++
    } else bytes += 2
  }
  return bytes
}
