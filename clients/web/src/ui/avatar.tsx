/** A round initial in a colour of its own per user name; decorative (the name is always written beside it). */
function hue(name: string): number {
  let hash = 0
  for (const char of name) hash = (hash * 31 + char.codePointAt(0)!) >>> 0
  return hash % 360
}

export function Avatar({ name, size = 'medium' }: { name: string; size?: 'small' | 'medium' }) {
  const initial = [...name.trim()][0]?.toUpperCase() ?? '?'
  return (
    <span class={`avatar avatar-${size}`} style={{ backgroundColor: `hsl(${hue(name)} 55% 36%)` }} aria-hidden="true">
      {initial}
    </span>
  )
}
