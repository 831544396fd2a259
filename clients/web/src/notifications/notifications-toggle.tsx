/** The "Notifications" switch in the top bar: off until the person turns it on (docs/push.md). */
import { useEffect, useState } from 'preact/hooks'
import { isSubscribed, registerAgain, turnOff, turnOn, unsupportedReason } from './web-push.ts'

type State = { kind: 'checking' } | { kind: 'unsupported'; reason: string } | { kind: 'ready'; on: boolean; busy: boolean; problem?: string }

export function NotificationsToggle() {
  const [state, setState] = useState<State>({ kind: 'checking' })
  useEffect(() => {
    let live = true
    void (async () => {
      const reason = await unsupportedReason()
      const next: State = reason ? { kind: 'unsupported', reason } : { kind: 'ready', on: await isSubscribed().catch(() => false), busy: false }
      if (live) setState(next)
      // Best effort: offline, the next load tries again.
      if (next.kind === 'ready' && next.on) void registerAgain().catch(() => false)
    })()
    return () => {
      live = false
    }
  }, [])
  if (state.kind !== 'ready') return null

  const toggle = async (): Promise<void> => {
    const on = !state.on
    // Shown in its new position while the browser and the server are asked; put back if they refuse.
    setState({ kind: 'ready', on, busy: true })
    try {
      await (on ? turnOn() : turnOff())
      setState({ kind: 'ready', on, busy: false })
    } catch (error) {
      setState({ kind: 'ready', on: await isSubscribed().catch(() => false), busy: false, problem: (error as Error).message })
    }
  }
  return (
    <span class="notifications-toggle">
      <input id="notifications-switch" type="checkbox" role="switch" checked={state.on} disabled={state.busy} onChange={() => void toggle()} />
      <label for="notifications-switch">Notifications</label>
      {state.problem && (
        <span class="notifications-problem" role="alert">
          {state.problem}
        </span>
      )}
    </span>
  )
}
