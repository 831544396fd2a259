/**
 * WebSocket close codes the server uses. Clients match on these numbers; each one is
 * listed in docs/errors.md (a test fails when the two drift).
 */
export const CloseCodes = {
  /** A frame that is not a well-formed automerge-repo message (bad CBOR, wrong shape, no join first). */
  MALFORMED: 4400,
  /** No valid token, or the token expired during the connection. */
  UNAUTHENTICATED: 4401,
  /** The connection tried something its user may not do (e.g. claim another user's peer ID). */
  FORBIDDEN: 4403,
  /** The client stopped reading and its outbound buffer passed the bound. */
  TOO_SLOW: 4408,
  /** A frame or event larger than the configured limit. */
  TOO_LARGE: 4413,
  /** More messages than the per-connection rate allows. */
  RATE_LIMITED: 4429,
} as const

export type CloseCode = (typeof CloseCodes)[keyof typeof CloseCodes]
