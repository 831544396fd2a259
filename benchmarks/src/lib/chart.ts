/**
 * A horizontal bar chart as standalone SVG, no dependencies: one bar per system, the
 * value printed at its end, Parley's bar in its own colour. `log` for values that span
 * orders of magnitude (latency from a raw relay to a throttled sync).
 */
export interface Bar {
  label: string
  value: number
}

export interface Chart {
  title: string
  unit: string
  bars: Bar[]
  log?: boolean
}

const WIDTH = 720
const LABEL_WIDTH = 300
const BAR_HEIGHT = 22
const GAP = 8
const TOP = 40

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
const format = (value: number) => (value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2))

export function barChart({ title, unit, bars, log = false }: Chart): string {
  const max = Math.max(...bars.map(bar => bar.value))
  const min = Math.min(...bars.map(bar => bar.value).filter(value => value > 0))
  const span = WIDTH - LABEL_WIDTH - 90
  const scale = (value: number): number => {
    if (value <= 0) return 0
    if (!log) return (value / max) * span
    const floor = Math.log10(min) - 0.3
    return ((Math.log10(value) - floor) / (Math.log10(max) - floor)) * span
  }
  const height = TOP + bars.length * (BAR_HEIGHT + GAP) + 24
  const rows = bars.map((bar, index) => {
    const y = TOP + index * (BAR_HEIGHT + GAP)
    const width = Math.max(1, scale(bar.value))
    const fill = /parley/i.test(bar.label) ? '#d9480f' : '#868e96'
    return [
      `<text x="${LABEL_WIDTH - 8}" y="${y + 15}" text-anchor="end">${escape(bar.label)}</text>`,
      `<rect x="${LABEL_WIDTH}" y="${y}" width="${width.toFixed(1)}" height="${BAR_HEIGHT}" fill="${fill}"/>`,
      `<text x="${(LABEL_WIDTH + width + 6).toFixed(1)}" y="${y + 15}">${format(bar.value)} ${escape(unit)}</text>`,
    ].join('')
  })
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="system-ui, sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="12" y="24" font-size="15" font-weight="600">${escape(title)}</text>`,
    ...rows,
    `<text x="${WIDTH - 12}" y="${height - 8}" text-anchor="end" fill="#868e96" font-size="11">${log ? 'log scale · ' : ''}benchmarks/RESULTS.md</text>`,
    '</svg>',
    '',
  ].join('\n')
}
