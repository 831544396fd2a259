/** Error codes of @parley/react. Every code is listed in docs/errors.md. */
export const ReactErrorCodes = {
  NO_CLIENT: 'PARLEY_ERR_NO_CLIENT',
} as const
