import { type Html, html } from './html.js';

/** How long decisions took, in buckets. */
export const decisionBuckets = [
  { label: '< 1 min', maxMs: 60_000 },
  { label: '< 10 min', maxMs: 600_000 },
  { label: '< 1 h', maxMs: 3_600_000 },
  { label: '< 1 day', maxMs: 86_400_000 },
  { label: '≥ 1 day', maxMs: Number.POSITIVE_INFINITY },
] as const;

/** A small bar chart (inline SVG) of how many decisions fell into each bucket, with a text equivalent. */
export function decisionTimeChart(durationsMs: readonly number[]): Html {
  const counts = decisionBuckets.map(
    (bucket, index) =>
      durationsMs.filter(
        (duration) =>
          duration < bucket.maxMs && (index === 0 || duration >= (decisionBuckets[index - 1]?.maxMs ?? 0)),
      ).length,
  );
  const most = Math.max(1, ...counts);
  const barWidth = 56;
  const height = 120;
  const description = decisionBuckets.map((bucket, index) => `${bucket.label}: ${counts[index]}`).join(', ');
  return html`<svg class="chart" role="img" aria-labelledby="chart-title" viewBox="0 0 ${decisionBuckets.length * (barWidth + 12)} ${height + 36}" width="${decisionBuckets.length * (barWidth + 12)}">
    <title id="chart-title">Decisions by time taken: ${description}</title>
    ${decisionBuckets.map((bucket, index) => {
      const count = counts[index] as number;
      const barHeight = Math.round((count / most) * height);
      const x = index * (barWidth + 12) + 6;
      return html`<rect x="${x}" y="${height - barHeight + 14}" width="${barWidth}" height="${Math.max(barHeight, 1)}"></rect>
        <text x="${x + barWidth / 2}" y="${height - barHeight + 10}" text-anchor="middle">${count}</text>
        <text x="${x + barWidth / 2}" y="${height + 30}" text-anchor="middle">${bucket.label}</text>`;
    })}
  </svg>`;
}

/** A duration for people: `3 min`, `2.5 h`. */
export function humanDuration(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 86_400_000) return `${(ms / 3_600_000).toFixed(1)} h`;
  return `${(ms / 86_400_000).toFixed(1)} d`;
}
