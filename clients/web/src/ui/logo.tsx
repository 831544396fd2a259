export function Logo() {
  return (
    <svg class="logo" viewBox="0 0 64 64" aria-hidden="true" focusable="false">
      <rect width="64" height="64" rx="14" fill="#1d4ed8" />
      <path d="M16 20a6 6 0 0 1 6-6h20a6 6 0 0 1 6 6v14a6 6 0 0 1-6 6H30l-10 8v-8a6 6 0 0 1-4-6z" fill="#fff" />
      <circle cx="25" cy="27" r="2.5" fill="#1d4ed8" />
      <circle cx="32" cy="27" r="2.5" fill="#1d4ed8" />
      <circle cx="39" cy="27" r="2.5" fill="#1d4ed8" />
    </svg>
  )
}
