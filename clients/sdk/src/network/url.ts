import { ClientErrorCodes, ParleyError } from '../errors.ts'

/**
 * Accepts `ws://HOST:PORT`, `wss://…`, the full `…/sync` URL, or `http(s)://` as its
 * `ws(s)://` twin, and returns the sync endpoint URL.
 */
export function syncUrl(server: string): string {
  let url: URL
  try {
    url = new URL(server)
  } catch (cause) {
    throw new ParleyError(ClientErrorCodes.INVALID_OPTION, `server must be a URL like ws://HOST:PORT, got ${JSON.stringify(server)}`, { cause })
  }
  if (url.protocol === 'http:') url.protocol = 'ws:'
  if (url.protocol === 'https:') url.protocol = 'wss:'
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new ParleyError(ClientErrorCodes.INVALID_OPTION, `server must use ws, wss, http or https, got ${url.protocol}`)
  }
  if (!url.pathname.endsWith('/sync')) url.pathname = url.pathname.replace(/\/?$/, '/sync')
  return url.toString()
}
