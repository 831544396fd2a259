import { runStorageAdapterTests } from '@automerge/automerge-repo/helpers/tests/storage-adapter-tests.js'
import { MemoryStorageAdapter } from '../../src/index.ts'

// The suite registers a file-wide beforeEach, so each adapter gets its own file.
runStorageAdapterTests(async () => ({ adapter: new MemoryStorageAdapter() }), 'MemoryStorageAdapter')
