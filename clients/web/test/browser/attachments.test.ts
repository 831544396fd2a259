/**
 * Files in the web app against a real parley-server process (docs/attachments.md): the
 * attach button and drag-and-drop send a file; an image shows its preview on both sides;
 * the author sees the upload until the server has it; the other member downloads the
 * bytes; a file whose bytes are not what the browser said is refused, and says so.
 */
import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { screenshot } from './support/artifacts.ts'
import { Chat } from './support/chat.ts'
import { browserSuite } from './support/suite.ts'

const windows = browserSuite()

/** A real 2×1 PNG, decodable by the browser (its preview is drawn from it). */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAIAAAABCAYAAAD0In+KAAAADklEQVR4nGP4z8AAQv8BD/kD/YURmXYAAAAASUVORK5CYII=', 'base64')

describe('files in the web app', () => {
  it('sends an image with the attach button: previews on both sides, uploaded, downloaded by the other', async () => {
    const [alice, bob] = (await Promise.all([windows().signIn('alice'), windows().signIn('bob')])).map(window => new Chat(window)) as [Chat, Chat]
    await alice.createConversation('Photos', ['bob'])
    await bob.openConversation('Photos')

    await alice.page.locator('input[type="file"]').setInputFiles({ name: 'dot.png', mimeType: 'image/png', buffer: PNG })
    const mine = alice.page.locator('.message.mine .attachment', { hasText: 'dot.png' })
    await mine.waitFor()
    expect(await mine.locator('img.attachment-preview').getAttribute('src')).toMatch(/^data:image\/jpeg;base64,/)
    // Uploaded: no progress left, marked done.
    await alice.page.locator('.message.mine .attachment[data-upload="done"]', { hasText: 'dot.png' }).waitFor()

    const theirs = bob.page.locator('.message.theirs .attachment', { hasText: 'dot.png' })
    await theirs.locator('img.attachment-preview').waitFor()
    await screenshot(bob.page, 'attachment-image')
    const [download] = await Promise.all([bob.page.waitForEvent('download'), theirs.getByRole('button', { name: 'Download dot.png' }).click()])
    expect(download.suggestedFilename()).toBe('dot.png')
    expect((await readFile((await download.path())!)).equals(PNG)).toBe(true)
  })

  it('sends a dropped file, and shows a refusal when the bytes are not the type given', async () => {
    const alice = new Chat(await windows().signIn('alice'))
    await alice.createConversation('Drops', [])
    const drop = async (name: string, type: string, text: string): Promise<void> => {
      const transfer = await alice.page.evaluateHandle(
        ([name, type, text]) => {
          const data = new DataTransfer()
          data.items.add(new File([text], name, { type }))
          return data
        },
        [name, type, text] as const,
      )
      await alice.page.locator('form.composer').dispatchEvent('drop', { dataTransfer: transfer })
    }
    await drop('notes.txt', 'text/plain', 'the agenda')
    await alice.page.locator('.message.mine .attachment[data-upload="done"]', { hasText: 'notes.txt' }).waitFor()

    // Not a PNG whatever its name says: the server refuses it, the author is told.
    await drop('fake.png', 'image/png', 'not an image at all')
    const refused = alice.page.locator('.message.mine .attachment[data-upload="failed"]', { hasText: 'fake.png' })
    await refused.getByRole('alert').filter({ hasText: /Upload failed: .*not image\/png/ }).waitFor()
    await screenshot(alice.page, 'attachment-refused')
  })
})
