/**
 * The gateway's CloudWatch metrics of a recent window as Prometheus text format 0.0.4, for
 * `GET /metrics` in AWS, where Lambda instances cannot be scraped one by one.
 *
 * How window statistics map onto Prometheus, honestly: CloudWatch holds sums per period, not
 * the ever-growing totals a Prometheus counter promises, and no process keeps a total across
 * instances. So nothing here claims to be a counter. Each count is a gauge named for its
 * window (`blux_requests_total` becomes `blux_requests_last_5m`: the requests of the five
 * minutes up to the window's end), and each duration histogram becomes gauges of its p50, p90
 * and p99 over the window (`quantile` label), since CloudWatch keeps percentiles, not buckets.
 * `rate()` does not apply to these; read them as they are, or sum them in a recording rule.
 */
import type { MetricDeclaration } from './metric-catalog';

/** The window `GET /metrics` reads from CloudWatch: five minutes. */
export const CLOUDWATCH_WINDOW_SECONDS = 300;

/** The percentiles read for durations, as CloudWatch statistics and Prometheus quantiles. */
export const DURATION_QUANTILES = [
  { statistic: 'p50', quantile: '0.5' },
  { statistic: 'p90', quantile: '0.9' },
  { statistic: 'p99', quantile: '0.99' },
] as const;

export type DurationStatistic = (typeof DURATION_QUANTILES)[number]['statistic'];

/** One CloudWatch metric (a name and one set of dimension values) over the window. */
export interface WindowSeries {
  readonly metric: MetricDeclaration;
  /** Every dimension, `stage` included, in the metric's order. */
  readonly dimensions: Readonly<Record<string, string>>;
  /** The window's sum, for counts. */
  readonly sum?: number;
  /** Percentiles in milliseconds, for durations; absent when the window had no sample. */
  readonly percentiles?: Readonly<Partial<Record<DurationStatistic, number>>>;
}

export interface WindowExposition {
  readonly series: readonly WindowSeries[];
  /** When the window ends. */
  readonly windowEnd: Date;
  readonly windowSeconds: number;
}

const MS_PER_SECOND = 1_000;
const SECONDS_PER_MINUTE = 60;

/** `blux_requests_total` → `blux_requests_last_5m`; `..._seconds` → `..._seconds_last_5m`. */
export const windowMetricName = (metric: MetricDeclaration, windowSeconds: number): string => {
  const suffix =
    windowSeconds % SECONDS_PER_MINUTE === 0
      ? `last_${windowSeconds / SECONDS_PER_MINUTE}m`
      : `last_${windowSeconds}s`;

  return `${metric.prometheus.name.replace(/_total$/, '')}_${suffix}`;
};

const escapeLabelValue = (value: string): string =>
  value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

const escapeHelp = (value: string): string => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

const labelsOf = (labels: Readonly<Record<string, string>>): string => {
  const pairs = Object.entries(labels).map(([key, value]) => `${key}="${escapeLabelValue(value)}"`);

  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
};

const samplesOf = (series: WindowSeries): string[] => {
  if (series.metric.unit === 'Count') {
    return [`${labelsOf(series.dimensions)} ${series.sum ?? 0}`];
  }

  return DURATION_QUANTILES.flatMap(({ statistic, quantile }) => {
    const valueMs = series.percentiles?.[statistic];

    return valueMs === undefined
      ? []
      : [`${labelsOf({ ...series.dimensions, quantile })} ${valueMs / MS_PER_SECOND}`];
  });
};

/** Renders the window's series, one family per metric, in catalog order of first appearance. */
export const renderWindowExposition = (exposition: WindowExposition): string => {
  const families = new Map<string, { metric: MetricDeclaration; lines: string[] }>();
  for (const series of exposition.series) {
    const name = windowMetricName(series.metric, exposition.windowSeconds);
    const family = families.get(name) ?? { metric: series.metric, lines: [] };
    family.lines.push(...samplesOf(series).map((sample) => `${name}${sample}`));
    families.set(name, family);
  }

  const windowNote =
    `over the ${exposition.windowSeconds} s up to ${exposition.windowEnd.toISOString()}, ` +
    'from CloudWatch.';
  const lines: string[] = [
    '# HELP blux_metrics_window_end_timestamp_seconds End of the window the other values cover.',
    '# TYPE blux_metrics_window_end_timestamp_seconds gauge',
    `blux_metrics_window_end_timestamp_seconds ${exposition.windowEnd.getTime() / MS_PER_SECOND}`,
  ];
  for (const [name, family] of families) {
    const kind = family.metric.unit === 'Count' ? 'Sum' : 'Percentiles';
    lines.push(
      `# HELP ${name} ${escapeHelp(`${family.metric.help} ${kind} ${windowNote}`)}`,
      `# TYPE ${name} gauge`,
      ...family.lines,
    );
  }

  return `${lines.join('\n')}\n`;
};
