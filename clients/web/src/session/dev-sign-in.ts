/**
 * Development sign-in: a server running on its development secret mints a token for any
 * user name at POST /v1/dev/token. Whether it does is read from its OpenAPI document, so
 * the sign-in form offers it only where it works.
 */
import type { Session } from './session.ts'

export async function devSignInAvailable(): Promise<boolean> {
  try {
    const response = await fetch('/v1/openapi.json')
    if (!response.ok) return false
    const doc = (await response.json()) as { paths?: Record<string, unknown> }
    return Boolean(doc.paths?.['/v1/dev/token'])
  } catch {
    return false
  }
}

export async function devSignIn(user: string): Promise<Session> {
  const response = await fetch('/v1/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: user.trim() }),
  })
  const body = (await response.json().catch(() => ({}))) as { token?: string; error?: { message?: string } }
  if (!response.ok || !body.token) throw new Error(body.error?.message ?? `the server answered ${response.status}`)
  return { user: user.trim(), token: body.token, dev: true }
}
