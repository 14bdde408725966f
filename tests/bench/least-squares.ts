/** A straight line fitted by least squares, with how far each point lies from it. */
export interface LineFit {
  intercept: number;
  slope: number;
  /** y − (intercept + slope × x) per point, in the order given. */
  residuals: number[];
  /** Coefficient of determination; 1 when every point is on the line, and when y does not vary at all. */
  r2: number;
}

/** Ordinary least squares y ≈ intercept + slope × x over at least two points with distinct x. */
export function fitLine(points: readonly { x: number; y: number }[]): LineFit {
  const n = points.length;
  const meanX = points.reduce((s, p) => s + p.x, 0) / n;
  const meanY = points.reduce((s, p) => s + p.y, 0) / n;
  const sxx = points.reduce((s, p) => s + (p.x - meanX) ** 2, 0);
  if (n < 2 || sxx === 0) throw new Error("a line needs at least two points with different x");
  const sxy = points.reduce((s, p) => s + (p.x - meanX) * (p.y - meanY), 0);
  const slope = sxy / sxx;
  const intercept = meanY - slope * meanX;
  const residuals = points.map((p) => p.y - (intercept + slope * p.x));
  const ssRes = residuals.reduce((s, r) => s + r * r, 0);
  const ssTot = points.reduce((s, p) => s + (p.y - meanY) ** 2, 0);
  return { intercept, slope, residuals, r2: ssTot === 0 ? 1 : 1 - ssRes / ssTot };
}
