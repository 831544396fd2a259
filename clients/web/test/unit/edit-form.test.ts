/**
 * The inline edit field is focused with its caret at the end as it mounts, not after the
 * next paint: a selection made in between (Ctrl+A, Playwright's fill) was collapsed, and
 * the new text landed after the old ("Train leaves at nineTrain leaves at ten", seen in CI).
 */
import { GlobalRegistrator } from '@happy-dom/global-registrator'
import { h, render } from 'preact'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { EditForm } from '../../src/ui/conversation/edit-form.tsx'

beforeAll(() => GlobalRegistrator.register())
afterAll(() => GlobalRegistrator.unregister())

it('focuses the field with the caret after the text within the render that mounts it', () => {
  const container = document.createElement('div')
  document.body.append(container)
  render(h(EditForm, { text: 'Train leaves at nine', onSave: () => {}, onCancel: () => {} }), container)
  // No await: nothing after the mount may move the caret or the focus.
  const field = container.querySelector('textarea')!
  expect(document.activeElement).toBe(field)
  expect([field.selectionStart, field.selectionEnd]).toEqual([20, 20])
  render(null, container)
  container.remove()
})
