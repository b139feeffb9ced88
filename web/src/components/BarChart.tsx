// A small SVG bar chart (no chart library): one labelled bar per entry, values in text too.

export interface Bar {
  label: string;
  value: number;
  text: string;
}

export function BarChart({ bars, title }: { bars: Bar[]; title: string }) {
  const max = Math.max(1e-9, ...bars.map((b) => b.value));
  const rowH = 28;
  const labelW = 90;
  const width = 480;
  const barW = width - labelW - 90;
  const height = Math.max(rowH, bars.length * rowH);
  return (
    <svg
      className="chart"
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-label={`${title}: ${bars.map((b) => `${b.label} ${b.text}`).join(', ')}`}
      preserveAspectRatio="xMinYMin meet"
    >
      {bars.map((b, i) => {
        const w = Math.max(1, (b.value / max) * barW);
        const y = i * rowH;
        return (
          <g key={b.label} transform={`translate(0, ${y})`}>
            <text x={labelW - 8} y={rowH / 2} dominantBaseline="middle" textAnchor="end" className="chart-label">
              {b.label}
            </text>
            <rect x={labelW} y={5} width={w} height={rowH - 10} rx={3} className="chart-bar" />
            <text x={labelW + w + 6} y={rowH / 2} dominantBaseline="middle" className="chart-value">
              {b.text}
            </text>
          </g>
        );
      })}
    </svg>
  );
}
