import { render } from 'preact'
import { App } from './app.tsx'

export function mount(root: HTMLElement): void {
  root.replaceChildren()
  render(<App />, root)
}
