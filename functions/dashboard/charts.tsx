/**
 * Hand-written SVG bar charts: no library, no script. Every bar carries a <title> (a native
 * tooltip that works without JavaScript), and every chart is followed by its numbers as a table,
 * so nothing is told by colour or by pixel height alone.
 */
import type { FC } from 'hono/jsx';

/** A y axis for whole counts: 0 to `top` in `step`s of 1, 2 or 5 × 10^k, about `target` of them. */
export function niceScale(max: number, target = 4): { top: number; step: number; ticks: number[] } {
  const wanted = Math.max(1, Number.isFinite(max) ? max : 0);
  const rough = wanted / target;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= rough) ?? 10 * magnitude);
  const top = Math.ceil(wanted / step) * step;
  const ticks: number[] = [];
  for (let t = 0; t <= top; t += step) ticks.push(t);
  return { top, step, ticks };
}

/** Every how many categories an x label is drawn, so at most `maxLabels` are (labels never overlap). */
export function labelStride(count: number, maxLabels = 8): number {
  return Math.max(1, Math.ceil(count / Math.max(1, maxLabels)));
}

export interface ChartSeries {
  label: string;
  /** A CSS class giving the fill (see layout's stylesheet: s-removed, s-failed, s-found, s-ok). */
  className: string;
}

export interface ChartGroup {
  /** The x-axis label (short). */
  label: string;
  /** The tooltip's and the data table's name for this category (long). */
  title: string;
  /** One value per series. */
  values: number[];
}

export interface BarChartProps {
  title: string;
  groups: ChartGroup[];
  series: ChartSeries[];
  mode: 'stacked' | 'grouped';
  /** What a unit on the y axis is, e.g. "containers". */
  unit: string;
  width?: number;
  height?: number;
}

const MARGIN = { left: 52, right: 12, top: 10, bottom: 34 };

/** The largest bar the chart must fit: the tallest stack, or the tallest single bar. */
export function chartMax(groups: readonly ChartGroup[], mode: 'stacked' | 'grouped'): number {
  let max = 0;
  for (const group of groups) {
    const value = mode === 'stacked' ? group.values.reduce((a, b) => a + b, 0) : Math.max(0, ...group.values);
    if (value > max) max = value;
  }
  return max;
}

export const BarChart: FC<BarChartProps> = ({ title, groups, series, mode, unit, width = 960, height = 220 }) => {
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const scale = niceScale(chartMax(groups, mode));
  const y = (value: number) => MARGIN.top + plotH - (value / scale.top) * plotH;
  const slot = groups.length ? plotW / groups.length : plotW;
  const barArea = Math.max(1, slot * 0.78);
  const stride = labelStride(groups.length, Math.floor(plotW / 90));
  // A non-zero value is never drawn thinner than a pixel: "1 failed" must not vanish.
  const barHeight = (value: number) => (value <= 0 ? 0 : Math.max(1.5, (value / scale.top) * plotH));

  const bars = groups.flatMap((group, gi) => {
    const x0 = MARGIN.left + gi * slot + (slot - barArea) / 2;
    if (mode === 'stacked') {
      let base = MARGIN.top + plotH;
      return group.values.flatMap((value, si) => {
        const s = series[si];
        if (!s || value <= 0) return [];
        const h = barHeight(value);
        base -= h;
        return [
          <rect class={s.className} x={x0.toFixed(1)} y={base.toFixed(1)} width={barArea.toFixed(1)} height={h.toFixed(1)}>
            <title>{`${group.title} — ${s.label}: ${value}`}</title>
          </rect>,
        ];
      });
    }
    const w = barArea / Math.max(1, series.length);
    return group.values.flatMap((value, si) => {
      const s = series[si];
      if (!s || value <= 0) return [];
      const h = barHeight(value);
      return [
        <rect class={s.className} x={(x0 + si * w).toFixed(1)} y={(MARGIN.top + plotH - h).toFixed(1)} width={Math.max(1, w - 1).toFixed(1)} height={h.toFixed(1)}>
          <title>{`${group.title} — ${s.label}: ${value}`}</title>
        </rect>,
      ];
    });
  });

  return (
    <figure class="chart">
      <figcaption>
        <span class="chart-title">{title}</span>
        <span class="legend">
          {series.map((s) => (
            <span class="legend-item">
              <span class={`swatch ${s.className}`} aria-hidden="true"></span>
              {s.label}
            </span>
          ))}
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} width="100%" role="img" aria-label={`${title}; the numbers are in the table below`} preserveAspectRatio="xMidYMid meet">
        {scale.ticks.map((tick) => (
          <g class="tick">
            <line x1={MARGIN.left} x2={width - MARGIN.right} y1={y(tick).toFixed(1)} y2={y(tick).toFixed(1)} />
            <text x={MARGIN.left - 8} y={(y(tick) + 4).toFixed(1)} text-anchor="end">
              {String(tick)}
            </text>
          </g>
        ))}
        <text class="axis-unit" x="14" y={(MARGIN.top + plotH / 2).toFixed(1)} transform={`rotate(-90 14 ${(MARGIN.top + plotH / 2).toFixed(1)})`} text-anchor="middle">
          {unit}
        </text>
        {bars}
        <line class="axis" x1={MARGIN.left} x2={width - MARGIN.right} y1={MARGIN.top + plotH} y2={MARGIN.top + plotH} />
        {groups.map((group, gi) =>
          gi % stride === 0 ? (
            <text class="xlabel" x={(MARGIN.left + gi * slot + slot / 2).toFixed(1)} y={height - MARGIN.bottom + 18} text-anchor="middle">
              {group.label}
            </text>
          ) : null,
        )}
        {groups.length === 0 ? (
          <text class="empty" x={width / 2} y={MARGIN.top + plotH / 2} text-anchor="middle">
            no data in this range
          </text>
        ) : null}
      </svg>
      <details class="chart-data">
        <summary>Numbers</summary>
        <table class="num">
          <thead>
            <tr>
              <th scope="col">when</th>
              {series.map((s) => (
                <th scope="col">{s.label}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {groups.map((group) => (
              <tr>
                <th scope="row">{group.title}</th>
                {group.values.map((value) => (
                  <td>{String(value)}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
};
