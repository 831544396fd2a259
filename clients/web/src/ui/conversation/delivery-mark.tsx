/** Own messages: a clock while saved only on this device, a tick once the server has them. */
export function DeliveryMark({ pending }: { pending: boolean }) {
  const label = pending ? 'Saved on this device; sends when you are online' : 'Reached the server'
  return (
    <span class={`delivery ${pending ? 'delivery-local' : 'delivery-server'}`} title={label} role="img" aria-label={label}>
      {pending ? (
        <svg viewBox="0 0 16 16" aria-hidden="true" focusable="false">
          <circle cx="8" cy="8" r="6.25" fill="none" stroke="currentColor" stroke-width="1.5" />
          <path d="M8 4.5V8l2.5 1.5" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linecap="round" />
        </svg>
      ) : (
        <svg viewBox="0 0 16 16" aria-hidden="true" focusable="false">
          <path d="M3 8.5l3 3 7-7" fill="none" stroke="currentColor" stroke-width="1.75" stroke-linecap="round" stroke-linejoin="round" />
        </svg>
      )}
    </span>
  )
}
