/**
 * The signed-in app: top bar (connection badge, who you are), the conversation list, and
 * the open conversation. The client and its helpers live as long as the session.
 */
import { ClientErrorCodes, type ParleyError } from '@parley/client'
import { useEffect, useState } from 'preact/hooks'
import { openServices, type Services } from '../data/services.ts'
import { useConnection } from '../data/hooks.ts'
import type { Session } from '../session/session.ts'
import { Avatar } from './avatar.tsx'
import { ConnectionBadge } from './connection-badge.tsx'
import { ConversationView } from './conversation/conversation-view.tsx'
import { Logo } from './logo.tsx'
import { NotificationsToggle } from '../notifications/notifications-toggle.tsx'
import { useOpenConversation } from './route.ts'
import { ParleyProvider, ServicesContext } from './services.ts'
import { Sidebar } from './sidebar/sidebar.tsx'

export function Chat({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const [services, setServices] = useState<Services>()
  const [failure, setFailure] = useState('')
  useEffect(() => {
    let closed = false
    let opened: Services | undefined
    openServices(session).then(
      next => {
        if (closed) return void next.close()
        opened = next
        setServices(next)
      },
      (error: Error) => setFailure(error.message),
    )
    return () => {
      closed = true
      void opened?.close()
    }
  }, [session])

  if (failure) {
    return (
      <main class="boot">
        <p role="alert">Could not open your messages on this device: {failure}</p>
        <button onClick={onSignOut}>Sign out</button>
      </main>
    )
  }
  if (!services) return <p class="boot">Opening your messages…</p>
  return (
    <ParleyProvider client={services.client}>
      <ServicesContext.Provider value={services}>
        <Layout services={services} onSignOut={onSignOut} />
      </ServicesContext.Provider>
    </ParleyProvider>
  )
}

function Layout({ services, onSignOut }: { services: Services; onSignOut: () => void }) {
  const connection = useConnection()
  const open = useOpenConversation()
  const problem = useClientProblem(services)
  return (
    <div class={`app ${open ? 'has-open' : ''}`}>
      <header class="topbar">
        <span class="brand">
          <Logo /> Parley
        </span>
        <ConnectionBadge shown={connection.shown} client={connection.client} />
        <span class="topbar-spacer" />
        <span class="me">
          <Avatar name={services.user} size="small" />
          <span>
            <span class="visually-hidden">Signed in as </span>
            {services.user}
          </span>
        </span>
        <NotificationsToggle />
        <button class="quiet" onClick={onSignOut} title="Your messages stay on this device">
          Sign out
        </button>
      </header>
      {problem && (
        <p class="banner" role="alert">
          {problem}
        </p>
      )}
      {connection.shown === 'offline' && <p class="offline-note">You are offline. Keep writing: messages are saved on this device and go out when the connection returns.</p>}
      <div class="panes">
        <Sidebar open={open} />
        <main class="main-pane">{open ? <ConversationView key={open} id={open} /> : <Welcome />}</main>
      </div>
    </div>
  )
}

function Welcome() {
  return (
    <div class="welcome">
      <h1>Welcome to Parley</h1>
      <p>Pick a conversation on the left, or start one with “New conversation” and the names of the people to talk to.</p>
      <p>Everything you write is saved on this device first, so Parley keeps working offline; it reaches the others as soon as you are connected.</p>
      <p class="tip">Trying it alone? Open a private window, sign in there as someone else, and start a conversation with them.</p>
    </div>
  )
}

/** What the person must act on: a refused sign-in (cleared once a connection is accepted) or a refused change. */
function useClientProblem({ client }: Services): string {
  const [problem, setProblem] = useState<{ code: string; text: string }>()
  useEffect(() => {
    const onError = (error: ParleyError): void => {
      if (error.code === ClientErrorCodes.UNAUTHENTICATED) {
        setProblem({ code: error.code, text: 'The server did not accept your sign-in (expired or invalid token). Sign out and sign in again; your messages stay on this device.' })
      }
      if (error.code === ClientErrorCodes.FORBIDDEN) setProblem({ code: error.code, text: `The server refused a change: ${error.message}` })
    }
    const onStatus = (status: string): void => {
      if (status === 'online') setProblem(current => (current?.code === ClientErrorCodes.UNAUTHENTICATED ? undefined : current))
    }
    client.on('error', onError)
    client.on('status', onStatus)
    return () => {
      client.off('error', onError)
      client.off('status', onStatus)
    }
  }, [client])
  return problem?.text ?? ''
}
