/**
 * A time series as standalone SVG columns (no dependencies), with marked moments: the
 * connection rate of a reconnect storm. benchmarks/src/lib/chart.ts draws one
 * horizontal bar per system, which does not suit a time axis; the styling follows it.
 */
export interface ColumnChart {
  title: string
  /** Width of one column, in seconds. */
  bucketSeconds: number
  values: number[]
  unit: string
  marks?: { at: number; label: string }[]
}

const WIDTH = 760
const HEIGHT = 320
const LEFT = 56
const RIGHT = 16
const TOP = 44
const BOTTOM = 40
const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

export function columnChart({ title, bucketSeconds, values, unit, marks = [] }: ColumnChart): string {
  const max = Math.max(1, ...values)
  const plotWidth = WIDTH - LEFT - RIGHT
  const plotHeight = HEIGHT - TOP - BOTTOM
  const seconds = values.length * bucketSeconds
  const x = (at: number): number => LEFT + (at / seconds) * plotWidth
  const y = (value: number): number => TOP + plotHeight - (value / max) * plotHeight
  const columns = values.map((value, i) => {
    const left = x(i * bucketSeconds)
    const width = Math.max(1, x((i + 1) * bucketSeconds) - left - 1)
    return `<rect x="${left.toFixed(1)}" y="${y(value).toFixed(1)}" width="${width.toFixed(1)}" height="${(TOP + plotHeight - y(value)).toFixed(1)}" fill="#d9480f"/>`
  })
  const step = seconds > 60 ? 10 : seconds > 20 ? 5 : 1
  const ticks: string[] = []
  for (let at = 0; at <= seconds; at += step) ticks.push(`<text x="${x(at).toFixed(1)}" y="${HEIGHT - BOTTOM + 16}" text-anchor="middle">${at}</text>`)
  const markLines = marks.map((mark, i) => {
    // Labels near the right edge go to the left of their line.
    const right = x(mark.at) > WIDTH - 140
    const label = `<text x="${(x(mark.at) + (right ? -4 : 4)).toFixed(1)}" y="${TOP + 12 + i * 14}" fill="#495057"${right ? ' text-anchor="end"' : ''}>${escape(mark.label)}</text>`
    return `<line x1="${x(mark.at).toFixed(1)}" x2="${x(mark.at).toFixed(1)}" y1="${TOP}" y2="${TOP + plotHeight}" stroke="#495057" stroke-dasharray="4 3"/>${label}`
  })
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="12" y="22" font-size="14" font-weight="600">${escape(title)}</text>`,
    `<line x1="${LEFT}" x2="${LEFT + plotWidth}" y1="${TOP + plotHeight}" y2="${TOP + plotHeight}" stroke="#868e96"/>`,
    `<text x="${LEFT - 6}" y="${TOP + 4}" text-anchor="end">${max}</text>`,
    `<text x="${LEFT - 6}" y="${TOP + plotHeight}" text-anchor="end">0</text>`,
    `<text x="14" y="${TOP + plotHeight / 2}" transform="rotate(-90 14 ${TOP + plotHeight / 2})" text-anchor="middle">${escape(unit)}</text>`,
    ...columns,
    ...ticks,
    `<text x="${LEFT + plotWidth / 2}" y="${HEIGHT - 6}" text-anchor="middle">seconds after the kill</text>`,
    ...markLines,
    '</svg>',
    '',
  ].join('\n')
}
