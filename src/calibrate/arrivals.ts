// Open-loop arrival schedules, drawn up front and replayed against an absolute clock so a slow
// response never delays the next send (no coordinated omission). Inter-arrival times are gamma
// distributed with shape = burstiness and mean 1/rate: burstiness 1 is a Poisson process, < 1 is
// burstier, > 1 more regular (vLLM's --burstiness means the same). The draws are rescaled so the
// whole schedule spans exactly n/rate seconds, as vLLM does, so the offered rate is the rate asked.

/** mulberry32: small, fast, reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function standardNormal(rand: () => number): number {
  const u = 1 - rand(); // (0, 1]
  const v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** Gamma(shape, scale 1) by Marsaglia–Tsang (with the shape < 1 boost). */
export function gammaSample(shape: number, rand: () => number): number {
  if (shape < 1) return gammaSample(shape + 1, rand) * Math.pow(1 - rand(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = standardNormal(rand);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rand();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v;
  }
}

/**
 * Send offsets (ms after the start) of `n` requests at `ratePerSecond`. The first request goes at
 * its first drawn gap, not at 0, so every gap follows the distribution.
 */
export function arrivalOffsetsMs(n: number, ratePerSecond: number, burstiness = 1, seed = 1): number[] {
  if (!(ratePerSecond > 0)) throw new RangeError('rate must be > 0');
  if (!(burstiness > 0)) throw new RangeError('burstiness must be > 0');
  const rand = seededRandom(seed);
  const gaps = Array.from({ length: n }, () => gammaSample(burstiness, rand));
  const total = gaps.reduce((s, g) => s + g, 0);
  const spanMs = (n / ratePerSecond) * 1000;
  const offsets: number[] = [];
  let t = 0;
  for (const g of gaps) {
    t += (g / total) * spanMs;
    offsets.push(t);
  }
  return offsets;
}

/** Concurrency levels of a sweep: 1, 2, 4, … up to and including max. */
export function sweepLevels(max: number): number[] {
  const levels: number[] = [];
  for (let c = 1; c < max; c *= 2) levels.push(c);
  levels.push(max);
  return levels;
}
