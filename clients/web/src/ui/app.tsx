/** Signed out: the sign-in screen. Signed in: the chat, on this user's own replica. */
import { useState } from 'preact/hooks'
import { clearSession, loadSession, saveSession, type Session } from '../session/session.ts'
import { Chat } from './chat.tsx'
import { turnOff as turnOffNotifications } from '../notifications/web-push.ts'
import { SignIn } from './sign-in.tsx'

export function App() {
  const [session, setSession] = useState<Session | undefined>(loadSession)
  if (!session) {
    return (
      <SignIn
        onSignIn={next => {
          saveSession(next)
          setSession(next)
        }}
      />
    )
  }
  return (
    <Chat
      key={session.user}
      session={session}
      onSignOut={() => {
        // This browser stops receiving the user's notifications (with their token: the session is going).
        void turnOffNotifications(session.token).catch(() => undefined)
        clearSession()
        location.hash = ''
        setSession(undefined)
      }}
    />
  )
}
