/**
 * The page frame and the small pieces every page shares: the stylesheet, the header with its
 * navigation, status badges (a symbol and a word besides the colour), the range picker and the
 * status filter (a plain GET form: it works without JavaScript).
 */
import { createContext, useContext, type Child, type FC, type PropsWithChildren } from 'hono/jsx';
import { raw } from 'hono/html';
import type { ReportStatus } from '../store/schemas.js';
import { RANGE_KEYS, isFailing, type RangeKey, type StatusFilter } from './aggregate.js';
import { BASE } from './format.js';

// A constant, never data: the only string this module hands to raw(). CSS in a <style> must not
// be entity-escaped (child selectors use ">").
const CSS = `
:root { --ink:#1a202c; --muted:#5a6473; --line:#d9dee5; --bg:#f6f7f9; --card:#fff; --bad:#b42318; --bad-bg:#fde8e7; --good:#146c2e; --good-bg:#e3f4e8; --dry:#2f5597; --dry-bg:#e6edf9; --link:#1d4ed8; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif; color:var(--ink); background:var(--bg); }
a { color:var(--link); text-decoration:none; } a:hover { text-decoration:underline; }
header.top { background:#18212f; color:#fff; padding:10px 24px; display:flex; align-items:center; gap:24px; }
header.top .brand { font-weight:700; font-size:16px; color:#fff; }
header.top nav a { color:#cfd8e6; margin-right:16px; }
header.top form { margin-left:auto; }
header.top button { background:transparent; color:#cfd8e6; border:1px solid #4a5568; border-radius:4px; padding:3px 10px; cursor:pointer; font:inherit; }
main { max-width:1240px; margin:0 auto; padding:16px 24px 48px; }
.crumbs { color:var(--muted); margin:4px 0 2px; }
h1, h1.mono { font-size:22px; margin:2px 0 4px; word-break:break-all; }
h2 { font-size:16px; margin:28px 0 8px; }
.sub { color:var(--muted); margin:0 0 12px; }
.toolbar { display:flex; flex-wrap:wrap; align-items:center; gap:16px; margin:12px 0 16px; }
.ranges a { display:inline-block; padding:3px 10px; border:1px solid var(--line); background:var(--card); margin-right:-1px; color:var(--ink); }
.ranges a[aria-current="page"] { background:#18212f; color:#fff; border-color:#18212f; font-weight:600; }
.toolbar form { display:flex; gap:6px; align-items:center; }
select, input[type=password], button.primary { font:inherit; padding:4px 8px; border:1px solid #aab3c0; border-radius:4px; background:#fff; }
button.primary { background:#18212f; color:#fff; border-color:#18212f; cursor:pointer; }
.tiles { display:grid; grid-template-columns:repeat(auto-fit,minmax(150px,1fr)); gap:12px; margin:8px 0 4px; }
.tile { background:var(--card); border:1px solid var(--line); border-radius:6px; padding:10px 14px; }
.tile .v { font-size:26px; font-weight:650; font-variant-numeric:tabular-nums; }
.tile .k { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.tile .d { color:var(--muted); font-size:12px; margin-top:2px; }
.tile.bad { border-color:#f3b4ae; background:var(--bad-bg); } .tile.bad .v { color:var(--bad); }
table { border-collapse:collapse; width:100%; background:var(--card); border:1px solid var(--line); }
th, td { padding:6px 10px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
thead th { background:#eef1f5; font-size:12px; color:#3d4654; text-transform:uppercase; letter-spacing:.03em; white-space:nowrap; }
thead tr.group th { text-align:center; border-left:1px solid var(--line); }
td.n, th.n { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
td.n.zero { color:#9aa3af; }
td.n.bad { color:var(--bad); font-weight:650; }
td.mono, .mono, h1.mono { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; }
td.mono, .mono { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:12.5px; }
td.err { color:var(--bad); max-width:420px; white-space:pre-wrap; word-break:break-word; }
tr.failing td:first-child { box-shadow:inset 4px 0 0 var(--bad); }
td > a > strong { white-space:nowrap; } /* a host id broken at its hyphen reads as two names */
td.when { white-space:nowrap; } .when small, small.muted { color:var(--muted); display:block; }
.badge { display:inline-block; border-radius:10px; padding:0 8px; font-size:12.5px; font-weight:600; white-space:nowrap; border:1px solid transparent; }
.badge.good { color:var(--good); background:var(--good-bg); border-color:#b7e0c3; }
.badge.bad { color:var(--bad); background:var(--bad-bg); border-color:#f3b4ae; }
.badge.dry { color:var(--dry); background:var(--dry-bg); border-color:#bccbea; }
.badge.none { color:var(--muted); background:#eef1f5; }
.badge.quar { color:#8a5a00; background:#fff4d6; border-color:#f0d58a; }
small.why { display:block; color:var(--bad); max-width:340px; word-break:break-word; margin-top:2px; }
.bad-text { color:var(--bad); font-weight:650; }
.note { background:#fff8e1; border:1px solid #f0d58a; border-radius:6px; padding:8px 12px; margin:10px 0; }
.note.bad { background:var(--bad-bg); border-color:#f3b4ae; }
dl.meta { display:grid; grid-template-columns:max-content 1fr; gap:4px 18px; background:var(--card); border:1px solid var(--line); border-radius:6px; padding:12px 16px; margin:8px 0; }
dl.meta dt { color:var(--muted); } dl.meta dd { margin:0; word-break:break-word; }
figure.chart { margin:8px 0 16px; background:var(--card); border:1px solid var(--line); border-radius:6px; padding:10px 12px 4px; }
figcaption { display:flex; flex-wrap:wrap; justify-content:space-between; gap:8px; margin-bottom:4px; }
.chart-title { font-weight:600; } .axis-note { font-weight:400; color:var(--muted); font-size:12px; }
.legend-item { margin-left:14px; color:#3d4654; } .swatch { display:inline-block; width:11px; height:11px; border-radius:2px; margin-right:5px; vertical-align:-1px; }
svg text { font-size:12px; fill:#3d4654; } svg .tick line { stroke:#e6e9ee; } svg line.axis { stroke:#8a94a3; }
svg .axis-unit { font-size:11px; fill:var(--muted); } svg text.empty { fill:var(--muted); font-size:14px; }
.s-removed { fill:#2563eb; background:#2563eb; } .s-failed { fill:#c81e1e; background:#c81e1e; }
.s-found { fill:#94a3b8; background:#94a3b8; } .s-ok { fill:#86c29a; background:#86c29a; }
details.chart-data summary { color:var(--muted); cursor:pointer; font-size:12px; margin:2px 0 6px; }
details.chart-data table { margin-bottom:8px; font-size:12.5px; }
.login { max-width:420px; margin:64px auto; background:var(--card); border:1px solid var(--line); border-radius:8px; padding:24px; }
.login label { display:block; font-weight:600; margin-bottom:6px; } .login input { width:100%; margin-bottom:12px; }
.empty-state { color:var(--muted); background:var(--card); border:1px dashed var(--line); padding:16px; border-radius:6px; }
`;

/**
 * Who is looking, as only the routes know it: `signed-in` (a session, local stack), `signed-out`
 * (local stack, no session: only the sign-in page is of use), `iam` (AWS: the HTTP API has
 * authenticated the caller and there is no sign-in here).
 */
export type Viewer = 'signed-in' | 'signed-out' | 'iam';
/** Set by the routes around every page they render (see routes.tsx), so no page has to pass it on. */
export const ViewerContext = createContext<Viewer | undefined>(undefined);

export interface LayoutProps {
  title: string;
  /**
   * Show the sign-out button. Only consulted where no ViewerContext is given (a page rendered on
   * its own, as in the unit tests): true means `signed-in`, false `iam`.
   */
  signedIn: boolean;
}

export const Layout: FC<PropsWithChildren<LayoutProps>> = ({ title, signedIn, children }) => {
  const viewer = useContext(ViewerContext) ?? (signedIn ? 'signed-in' : 'iam');
  // Signed out, every page but the sign-in form would only send the browser back to it.
  const home = viewer === 'signed-out' ? `${BASE}/login` : BASE;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        <title>{`${title} · clawbox-reaper`}</title>
        <style>{raw(CSS)}</style>
      </head>
      <body>
        <header class="top">
          <a class="brand" href={home}>
            clawbox-reaper
          </a>
          <nav>{viewer === 'signed-out' ? <a href={`${BASE}/login`}>Sign in</a> : <a href={BASE}>Fleet</a>}</nav>
          {viewer === 'signed-in' ? (
            <form method="post" action={`${BASE}/logout`}>
              <button type="submit">Sign out</button>
            </form>
          ) : null}
        </header>
        <main>{children}</main>
      </body>
    </html>
  );
};

const SYMBOL: Record<ReportStatus, string> = {
  ok: '✓',
  'dry-run': '○',
  partial: '!',
  capped: '!',
  error: '✕',
  unreachable: '✕',
  timeout: '✕',
  refused: '✕',
};

/** A status as colour, symbol and word; failing ones are red. */
export const StatusBadge: FC<{ status: ReportStatus | undefined }> = ({ status }) => {
  if (status === undefined) return <span class="badge none">– never reaped</span>;
  const kind = isFailing(status) ? 'bad' : status === 'dry-run' ? 'dry' : 'good';
  return <span class={`badge ${kind}`} data-status={status}>{`${SYMBOL[status]} ${status}`}</span>;
};

/** A number cell: right-aligned, grey when zero, red when it counts failures. */
export const Num: FC<{ value: number | undefined; bad?: boolean }> = ({ value, bad }) => {
  if (value === undefined) return <td class="n zero">–</td>;
  return <td class={`n${value === 0 ? ' zero' : bad ? ' bad' : ''}`}>{String(value)}</td>;
};

export const RangePicker: FC<{ current: RangeKey; href: (range: RangeKey) => string }> = ({ current, href }) => (
  <nav class="ranges" aria-label="time range">
    {RANGE_KEYS.map((range) => (
      <a href={href(range)} aria-current={range === current ? 'page' : undefined}>
        {range}
      </a>
    ))}
  </nav>
);

export const STATUS_CHOICES: { value: StatusFilter | ''; label: string }[] = [
  { value: '', label: 'any status' },
  { value: 'failing', label: 'failing (any red)' },
  { value: 'ok', label: 'ok' },
  { value: 'dry-run', label: 'dry-run' },
  { value: 'partial', label: 'partial' },
  { value: 'capped', label: 'capped' },
  { value: 'error', label: 'error' },
  { value: 'unreachable', label: 'unreachable' },
  { value: 'timeout', label: 'timeout' },
  { value: 'refused', label: 'refused' },
];

/** A GET form: the chosen status and the current range go back as the query string. */
export const StatusFilterForm: FC<{ action: string; range: RangeKey; status: StatusFilter | undefined; label: string }> = ({ action, range, status, label }) => (
  <form method="get" action={action}>
    <input type="hidden" name="range" value={range} />
    <label for="status">{label}</label>
    <select id="status" name="status">
      {STATUS_CHOICES.map((choice) => (
        <option value={choice.value} selected={(status ?? '') === choice.value}>
          {choice.label}
        </option>
      ))}
    </select>
    <button class="primary" type="submit">
      Filter
    </button>
  </form>
);

/** A number with its name; `detail` is a line under it saying what the number includes. */
export const Tile: FC<{ label: string; value: Child; bad?: boolean; id?: string; detail?: string | undefined }> = ({ label, value, bad, id, detail }) => (
  <div class={`tile${bad ? ' bad' : ''}`} id={id}>
    <div class="v">{value}</div>
    <div class="k">{label}</div>
    {detail === undefined ? null : <div class="d">{detail}</div>}
  </div>
);
