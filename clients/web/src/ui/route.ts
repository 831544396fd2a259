/** The open conversation lives in the URL hash (`#/c/<id>`), so a reload reopens it. */
import { useEffect, useState } from 'preact/hooks'

function current(): string | undefined {
  const match = /^#\/c\/([^/?#]+)$/.exec(location.hash)
  return match ? decodeURIComponent(match[1]!) : undefined
}

/** The conversation this window shows, if any. */
export { current as openConversationId }

export function conversationHref(id: string): string {
  return `#/c/${encodeURIComponent(id)}`
}

export function openConversation(id: string | undefined): void {
  location.hash = id ? conversationHref(id) : '#/'
}

export function useOpenConversation(): string | undefined {
  const [id, setId] = useState(current)
  useEffect(() => {
    const update = (): void => setId(current())
    window.addEventListener('hashchange', update)
    return () => window.removeEventListener('hashchange', update)
  }, [])
  return id
}
