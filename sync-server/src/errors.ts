/** Error codes of @parley/sync-server. Every code is listed in docs/errors.md. */
export { ParleyError, isParleyError } from '@parley/core'

export const ServerErrorCodes = {
  INVALID_OPTION: 'PARLEY_ERR_INVALID_OPTION',
  NOT_SUPPORTED: 'PARLEY_ERR_NOT_SUPPORTED',
  UNAUTHENTICATED: 'PARLEY_ERR_UNAUTHENTICATED',
  NOT_FOUND: 'PARLEY_ERR_NOT_FOUND',
  BAD_REQUEST: 'PARLEY_ERR_BAD_REQUEST',
  INTERNAL: 'PARLEY_ERR_INTERNAL',
  TOO_LARGE: 'PARLEY_ERR_TOO_LARGE',
  TOO_MANY_CONNECTIONS: 'PARLEY_ERR_TOO_MANY_CONNECTIONS',
} as const
