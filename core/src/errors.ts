/**
 * Typed errors with stable codes. Callers match on `code`, never on `instanceof`.
 * Every code is listed in docs/errors.md; a test fails when the two drift.
 */
export const CoreErrorCodes = {
  INVALID_EVENT: 'PARLEY_ERR_INVALID_EVENT',
  TEXT_TOO_LARGE: 'PARLEY_ERR_TEXT_TOO_LARGE',
  INVALID_DOCUMENT: 'PARLEY_ERR_INVALID_DOCUMENT',
} as const

export type CoreErrorCode = (typeof CoreErrorCodes)[keyof typeof CoreErrorCodes]

export class ParleyError extends Error {
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ParleyError'
    this.code = code
  }
}

export function isParleyError(error: unknown, code?: string): error is ParleyError {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'string' &&
    (error as { code: string }).code.startsWith('PARLEY_ERR_') &&
    (code === undefined || (error as { code: string }).code === code)
  )
}
