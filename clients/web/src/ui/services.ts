import { createContext } from 'preact'
import { useContext } from 'preact/hooks'
import type { Services } from '../data/services.ts'

export const ServicesContext = createContext<Services | null>(null)

export function useServices(): Services {
  const services = useContext(ServicesContext)
  if (!services) throw new Error('useServices outside a signed-in session')
  return services
}
