// Version strings of the simulated servers, and comparisons where behaviour changed between them.

/** Defaults: the versions wire-formats.md describes as the baseline. */
export const DEFAULT_VERSIONS = {
  vllm: '0.11.0',
  mlx: '0.31.2',
  llamacpp: 'b6715',
  tei: '1.8.0',
} as const;

/** Compares dotted versions numerically ('0.11.0' < '0.12'); a leading 'v' or 'b' is ignored. */
export function compareVersions(a: string, b: string): number {
  const pa = a
    .replace(/^[vb]/, '')
    .split(/[.-]/)
    .map((x) => Number.parseInt(x, 10) || 0);
  const pb = b
    .replace(/^[vb]/, '')
    .split(/[.-]/)
    .map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function atLeast(version: string, minimum: string): boolean {
  return compareVersions(version, minimum) >= 0;
}
