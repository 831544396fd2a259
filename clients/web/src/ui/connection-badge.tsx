import type { ConnectionStatus } from '@parley/client'

const LABELS: Record<ConnectionStatus, { text: string; hint: string }> = {
  online: { text: 'Online', hint: 'Connected: messages reach the server as you send them.' },
  connecting: { text: 'Connecting…', hint: 'Reaching the server. Everything you write is saved on this device meanwhile.' },
  offline: { text: 'Offline', hint: 'No connection. Messages are saved on this device and go out when the connection returns.' },
}

/** `shown` is what the person sees; `client` is the client's own status (the tests read it). */
export function ConnectionBadge({ shown, client }: { shown: ConnectionStatus; client: ConnectionStatus }) {
  const { text, hint } = LABELS[shown]
  return (
    <span class={`badge badge-${shown}`} role="status" title={hint} data-status={shown} data-client-status={client}>
      <span class="badge-dot" aria-hidden="true" />
      {text}
    </span>
  )
}
