export { SearchIndex, type SearchStats } from './search-index.ts'
export type { SearchOptions, SearchResult } from './query.ts'
