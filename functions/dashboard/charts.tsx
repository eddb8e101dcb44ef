/**
 * Hand-written SVG bar charts: no library, no script. Every bar carries a <title> (a native
 * tooltip that works without JavaScript), and every chart is followed by its numbers as a table,
 * so nothing is told by colour or by pixel height alone.
 */
import type { FC } from 'hono/jsx';
import { formatDate, TIME_FORMATS } from './format.js';

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

const DAY_MS = 86_400_000;
/** A generous width per character of a 12px axis label (digits are about 6.7), so estimated boxes cover the drawn ones. */
const LABEL_CHAR_PX = 7.5;
/** Room left between two x labels. */
const LABEL_GAP_PX = 10;
/** A format that shows fewer labels than this is too coarse to read the axis by (e.g. one date for a day of buckets). */
const MIN_USEFUL_LABELS = 4;

export interface TimeAxis {
  /** One entry per point: its label, or undefined where none is drawn. */
  labels: (string | undefined)[];
  /** What the labels leave out: the time zone, and the date when they show clock times only. */
  note: string;
}

/**
 * Labels for an x axis of points in time, one per slot of `slotPx` starting at `leftPx`, in a
 * drawing `widthPx` wide. A label is only drawn where it names something new and has room: the
 * drawn ones are all different, never overlap each other and stay inside the drawing. Clock
 * times (`13:05`, seconds when runs are closer than a minute) while the points span less than a
 * day, dates (`05-01`, with the time when that says more) beyond; of those, the coarsest that
 * still gets a useful number of labels drawn.
 */
export function timeAxis(times: readonly number[], slotPx: number, leftPx: number, widthPx: number): TimeAxis {
  if (times.length === 0) return { labels: [], note: 'UTC' };
  const first = Math.min(...times);
  const last = Math.max(...times);
  const withinDay = last - first < DAY_MS;
  const formats = withinDay ? TIME_FORMATS.clock : TIME_FORMATS.dated;
  const placed = formats.map((format) => placeLabels(times.map(format), slotPx, leftPx, widthPx));
  const most = Math.max(...placed.map(countShown));
  const labels = placed.find((p) => countShown(p) >= Math.min(most, MIN_USEFUL_LABELS)) ?? placed[0] ?? [];
  const days = formatDate(first) === formatDate(last) ? formatDate(first) : `${formatDate(first)} – ${formatDate(last)}`;
  return { labels, note: withinDay ? `UTC, ${days}` : 'UTC' };
}

const countShown = (labels: readonly (string | undefined)[]) => labels.filter((l) => l !== undefined).length;

/** Left to right: a label is kept when its text is new, it clears the previous one and it fits the drawing. */
function placeLabels(texts: readonly string[], slotPx: number, leftPx: number, widthPx: number): (string | undefined)[] {
  const shown = new Set<string>();
  let previousRight = -Infinity;
  return texts.map((text, i) => {
    const half = (text.length * LABEL_CHAR_PX) / 2;
    const x = leftPx + i * slotPx + slotPx / 2;
    if (shown.has(text) || x - half < previousRight + LABEL_GAP_PX || x - half < 0 || x + half > widthPx) return undefined;
    shown.add(text);
    previousRight = x + half;
    return text;
  });
}

export interface ChartSeries {
  label: string;
  /** A CSS class giving the fill (see layout's stylesheet: s-removed, s-failed, s-found, s-ok). */
  className: string;
}

export interface ChartGroup {
  /** When this category is (epoch ms): the x axis is labelled from it (see timeAxis). */
  at: number;
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
  const axis = timeAxis(groups.map((g) => g.at), slot, MARGIN.left, width);
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
        <span class="chart-title">
          {title}
          {groups.length ? <span class="axis-note">{` · times ${axis.note}`}</span> : null}
        </span>
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
        {axis.labels.map((label, gi) =>
          label === undefined ? null : (
            <text class="xlabel" x={(MARGIN.left + gi * slot + slot / 2).toFixed(1)} y={height - MARGIN.bottom + 18} text-anchor="middle">
              {label}
            </text>
          ),
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
