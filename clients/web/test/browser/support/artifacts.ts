/** Screenshots for a person to look at, in test/artifacts/web/ at the repository root (ignored by git). */
import { mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { Page } from 'playwright-core'

export const ARTIFACTS = fileURLToPath(new URL('../../../../../test/artifacts/web/', import.meta.url))

export async function screenshot(page: Page, name: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: `${ARTIFACTS}${name}.png` })
}
