import { GlobalRegistrator } from '@happy-dom/global-registrator'
import { afterAll } from 'vitest'

GlobalRegistrator.register()
afterAll(() => GlobalRegistrator.unregister())
