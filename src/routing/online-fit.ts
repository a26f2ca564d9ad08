// The online estimates the TTFT and decode-rate predictors share: an exponentially weighted
// least-squares line y = intercept + slope · x, and an exponentially weighted spread of log
// residuals. Pure: each update takes the previous state and one observation.

/** Exponentially weighted moments of (x, y). */
export interface LineMoments {
  readonly x: number;
  readonly y: number;
  readonly xx: number;
  readonly xy: number;
}

/** The moments after one more observation, weighted `a` (the first one starts them). */
export function updateMoments(m: LineMoments | undefined, x: number, y: number, a: number): LineMoments {
  const f = m ?? { x, y, xx: x * x, xy: x * y };
  return {
    x: f.x + a * (x - f.x),
    y: f.y + a * (y - f.y),
    xx: f.xx + a * (x * x - f.xx),
    xy: f.xy + a * (x * y - f.xy),
  };
}

/**
 * Their least-squares line once x varies by at least `minSpread` (σ): a slope ≥ 0 and an intercept
 * at least 10% of the mean y (a fixed part never fitted away); undefined while x is too narrow.
 */
export function lineOf(m: LineMoments, minSpread: number): { intercept: number; slope: number } | undefined {
  const variance = m.xx - m.x * m.x;
  if (!(variance >= minSpread ** 2)) return undefined;
  let slope = Math.max(0, (m.xy - m.x * m.y) / variance);
  let intercept = m.y - slope * m.x;
  if (intercept < 0.1 * m.y) {
    intercept = 0.1 * m.y;
    slope = (m.y - intercept) / Math.max(1, m.x);
  }
  return { intercept, slope };
}

/** σ after one more log residual, at weight `rate`, within [min, max]. */
export function updateSpread(
  sigma: number,
  residual: number,
  rate: number,
  min: number,
  max: number,
): number {
  return Math.min(
    max,
    Math.sqrt(Math.max(min ** 2, sigma * sigma + rate * (residual * residual - sigma * sigma))),
  );
}
