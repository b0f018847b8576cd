/**
 * A metric sink that feeds an in-process Prometheus registry (prom-client), for the local
 * runtime, where one long-lived process serves every route and `GET /metrics` can read the
 * registry directly. Counters become `_total` counters; durations become histograms in
 * seconds, as Prometheus names and units ask.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import {
  declaredDimensions,
  metricDeclaration,
  METRICS,
  STAGE_DIMENSION,
  type MetricDeclaration,
} from './metric-catalog';
import type { MetricDimensions, MetricSink } from './metrics';

/** The text format `GET /metrics` answers with. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const MS_PER_SECOND = 1_000;

/** Request latency: from a cached read (a few ms) to the function timeout (10 s). */
export const REQUEST_DURATION_BUCKETS_SECONDS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;

/** Task duration: from a second to the hour a long analysis may take. */
export const TASK_DURATION_BUCKETS_SECONDS = [1, 5, 15, 30, 60, 300, 900, 1800, 3600] as const;

const bucketsOf = (metric: MetricDeclaration): number[] => [
  ...(metric.name === 'TaskDuration'
    ? TASK_DURATION_BUCKETS_SECONDS
    : REQUEST_DURATION_BUCKETS_SECONDS),
];

type Instrument = Counter<string> | Histogram<string>;

export interface PrometheusSink extends MetricSink {
  readonly registry: Registry;
  /** The registry as Prometheus text format 0.0.4. */
  render(): Promise<string>;
}

/** A sink over a registry of its own holding every catalog metric, labelled with `stage`. */
export const createPrometheusSink = (stage: string): PrometheusSink => {
  const registry = new Registry();
  const instruments = new Map<string, Instrument>();
  for (const metric of METRICS) {
    const common = {
      name: metric.prometheus.name,
      help: metric.help,
      labelNames: [STAGE_DIMENSION, ...metric.dimensions],
      registers: [registry],
    };
    instruments.set(
      metric.name,
      metric.prometheus.type === 'counter'
        ? new Counter(common)
        : new Histogram({ ...common, buckets: bucketsOf(metric) }),
    );
  }

  return {
    registry,
    record: (name: string, value: number, given: MetricDimensions) => {
      const metric = metricDeclaration(name);
      const instrument = instruments.get(name);
      if (metric === undefined || instrument === undefined || !Number.isFinite(value)) {
        return;
      }
      const labels = { [STAGE_DIMENSION]: stage, ...declaredDimensions(metric, given) };
      if (instrument instanceof Histogram) {
        instrument.observe(labels, value / MS_PER_SECOND);
        return;
      }
      instrument.inc(labels, value);
    },
    render: async () => registry.metrics(),
  };
};

let installed: PrometheusSink | undefined;

/**
 * Makes `sink` the process's Prometheus registry, the one `GET /metrics` renders. Only the
 * local runtime installs one: in Lambda there is none, and the route reads CloudWatch instead.
 */
export const installPrometheusSink = (sink: PrometheusSink | undefined): void => {
  installed = sink;
};

/** The installed registry's sink, if this process has one. */
export const installedPrometheusSink = (): PrometheusSink | undefined => installed;
