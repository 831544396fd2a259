/**
 * What marks a process as started by this `vitest run`: the variable PARLEY_TEST_RUN, which
 * every process the run spawns inherits, and the run's own temporary directory (TMPDIR),
 * under which every test server, redis-server, nginx prefix and Chromium profile keeps its
 * files. redis-server and nginx overwrite their environment and command line with a
 * process title; the directory still shows in their command line or working directory.
 *
 * Called from the root vitest.config.ts, in vitest's main process, before it forks a
 * worker: the workers are forked with the environment as it is then.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'

export interface TestRun {
  id: string
  /** The run's TMPDIR. */
  dir: string
}

export function startTestRun(): TestRun {
  const id = process.env.PARLEY_TEST_RUN
  const dir = process.env.PARLEY_TEST_RUN_DIR
  if (id && dir) return { id, dir }
  const created = mkdtempSync(join(tmpdir(), 'parley-test-run-'))
  process.env.PARLEY_TEST_RUN = basename(created)
  process.env.PARLEY_TEST_RUN_DIR = created
  process.env.TMPDIR = created
  return { id: basename(created), dir: created }
}
