import { ParleyError, type ParleyClient } from '@parley/client'
import { createContext, createElement, useContext, type ReactNode } from 'react'
import { ReactErrorCodes } from './errors.ts'

/** The client the hooks below a `ParleyProvider` use. */
export const ParleyContext = createContext<ParleyClient | null>(null)

/** Makes `client` available to every hook in `children`. */
export function ParleyProvider({ client, children }: { client: ParleyClient; children?: ReactNode }): ReactNode {
  return createElement(ParleyContext.Provider, { value: client }, children)
}

/** The client of the nearest `ParleyProvider`; throws PARLEY_ERR_NO_CLIENT outside one. */
export function useClient(): ParleyClient {
  const client = useContext(ParleyContext)
  if (!client) throw new ParleyError(ReactErrorCodes.NO_CLIENT, 'a Parley hook was used outside <ParleyProvider client={client}>: wrap the app (or this component) in one')
  return client
}
