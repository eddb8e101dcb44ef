/** Human durations for flags: "90s", "15m", "1h", "7d", or plain seconds. */
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(value: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!match) throw new Error(`invalid duration "${value}": use e.g. 90s, 15m, 1h, 7d`);
  return Math.round(Number(match[1]) * UNITS[match[2] ?? 's']!);
}
