export { main, run } from './main.ts'
export { parseInvocation, UsageError, type Invocation } from './args.ts'
export type { Output } from './io.ts'
