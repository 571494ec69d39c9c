/**
 * What several benches share: reading `--name value` flags, and nearest-rank percentiles with the figures
 * rounded to 0.01 ms. Benches that report another percentile definition keep their own, so their figures stay
 * comparable with earlier runs.
 */

/** The value after `--name` on the command line, or `dflt`. */
export function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

/** Nearest-rank percentile, `q` in (0, 1]. */
export const pct = (xs: number[], q: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!; };
export const r2 = (x: number) => Math.round(x * 100) / 100;
export const stats = (xs: number[]) => ({ p50: r2(pct(xs, 0.5)), p99: r2(pct(xs, 0.99)), max: r2(Math.max(...xs)), n: xs.length });
