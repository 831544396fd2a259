/**
 * The first screen: sign in with a token, or, when the server runs on its development
 * secret, with just a name (the server mints the token).
 */
import { useEffect, useState } from 'preact/hooks'
import { devSignIn, devSignInAvailable } from '../session/dev-sign-in.ts'
import { sessionFromToken, type Session } from '../session/session.ts'
import { Logo } from './logo.tsx'

export function SignIn({ onSignIn }: { onSignIn: (session: Session) => void }) {
  const [dev, setDev] = useState(false)
  const [name, setName] = useState('')
  const [token, setToken] = useState('')
  const [error, setError] = useState('')
  const [busy, setBusy] = useState(false)
  useEffect(() => {
    void devSignInAvailable().then(setDev)
  }, [])

  const signInAs = async (event: Event): Promise<void> => {
    event.preventDefault()
    setBusy(true)
    setError('')
    try {
      onSignIn(await devSignIn(name))
    } catch (cause) {
      setError(`Development sign-in failed: ${(cause as Error).message}`)
      setBusy(false)
    }
  }
  const signInWithToken = (event: Event): void => {
    event.preventDefault()
    try {
      onSignIn(sessionFromToken(token))
    } catch (cause) {
      setError((cause as Error).message)
    }
  }

  return (
    <main class="sign-in">
      <div class="sign-in-card">
        <h1 class="sign-in-brand">
          <Logo /> Parley
        </h1>
        <p class="sign-in-lede">Conversations that keep working offline. Everything you write is saved on this device first and syncs when it can.</p>
        {dev && (
          <form class="sign-in-form" onSubmit={signInAs}>
            <h2>Development sign-in</h2>
            <label for="dev-name">Your name</label>
            <input id="dev-name" name="name" autocomplete="username" required pattern="\S+" title="One word, no spaces" value={name} onInput={event => setName(event.currentTarget.value)} />
            <button type="submit" class="primary" disabled={busy}>
              Sign in
            </button>
            <p class="hint">This server runs on its development secret, so any name works. Open a second window as someone else to chat with yourself.</p>
          </form>
        )}
        <form class="sign-in-form" onSubmit={signInWithToken}>
          <h2>{dev ? 'Or sign in with a token' : 'Sign in with a token'}</h2>
          <label for="token">Token</label>
          <textarea id="token" name="token" rows={3} required spellcheck={false} placeholder="eyJhbGciOiJIUzI1NiJ9…" value={token} onInput={event => setToken(event.currentTarget.value)} />
          <button type="submit" class={dev ? 'secondary' : 'primary'}>
            Sign in with token
          </button>
          <p class="hint">
            Your server’s administrator gives you one; on your own server, <code>npx parley-server token yourname</code> prints one.
          </p>
        </form>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </div>
    </main>
  )
}
