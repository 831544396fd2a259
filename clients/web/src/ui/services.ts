import type { ParleyClient } from '@parley/client'
import { ParleyProvider as ReactParleyProvider } from '@parley/react'
import { createContext, type ComponentChildren, type FunctionComponent } from 'preact'
import { useContext } from 'preact/hooks'
import type { Services } from '../data/services.ts'

/**
 * @parley/react's provider as a Preact component: at run time `react` is preact/compat
 * (vite.config.ts); only its declared types are React's.
 */
export const ParleyProvider = ReactParleyProvider as unknown as FunctionComponent<{ client: ParleyClient; children: ComponentChildren }>

export const ServicesContext = createContext<Services | null>(null)

export function useServices(): Services {
  const services = useContext(ServicesContext)
  if (!services) throw new Error('useServices outside a signed-in session')
  return services
}
