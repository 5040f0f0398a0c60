// Reports: statistics over repeated measurements, figures and ratios, and tables that line up.

/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** The value below which a fraction `q` of the values lie (nearest rank); NaN for none. */
export function quantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

const missing = (v: number | undefined): v is undefined => v === undefined || Number.isNaN(v);

/** Figures as the reports print them; '-' where there is none. */
export const fmt = {
  /** 12,345 (or with `digits` decimals). */
  n: (v: number | undefined, digits = 0) =>
    missing(v) ? '-' : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }),
  ms: (v: number | undefined) => (missing(v) ? '-' : String(v)),
  /** A ratio: 0.93x. */
  x: (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '-' : `${v.toFixed(2)}x`),
  pct: (v: number | undefined) => (v === undefined ? '-' : `${v.toFixed(0)}%`),
  kb: (v: number) => `${(v / 1024).toFixed(1)} KB`,
};

/**
 * Columns padded to their widest cell: right-aligned (figures) unless listed in `left`. Markdown
 * (`| a | b |` with a rule under the header) or plain (two spaces between columns).
 */
export function table(header: string[], rows: string[][], { markdown = false, left = [] as number[] } = {}): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const pad = (c: string, i: number) => (left.includes(i) ? c.padEnd(widths[i]) : c.padStart(widths[i]));
  if (!markdown) {
    const line = (cells: string[]) => cells.map(pad).join('  ').trimEnd();
    return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
  }
  const line = (cells: string[]) => '| ' + cells.map(pad).join(' | ') + ' |';
  return [line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}
