/**
 * A metric sink that writes CloudWatch Embedded Metric Format: JSON lines on stdout that the
 * Lambda log agent turns into metrics, with no API call on the request path. Records are
 * buffered and aggregated per invocation (counts summed, durations kept as value lists), then
 * written by `flush`, one document per dimension set.
 *
 * Our own writer rather than Powertools Metrics: Powertools gives every metric of an instance
 * the same dimensions, and the gateway's metrics each have their own.
 */
import {
  declaredDimensions,
  metricDeclaration,
  METRIC_NAMESPACE,
  STAGE_DIMENSION,
  type MetricDeclaration,
} from './metric-catalog';
import type { MetricDimensions, MetricSink } from './metrics';

/** EMF accepts at most 100 metrics in a document and 100 values in a metric's array. */
export const MAX_EMF_METRICS_PER_DOCUMENT = 100;
export const MAX_EMF_VALUES_PER_METRIC = 100;

export interface EmfSinkOptions {
  /** The `stage` dimension of every metric. */
  readonly stage: string;
  /** Where each document goes, as one line. Default: stdout. */
  readonly write?: (line: string) => void;
  readonly now?: () => number;
  /** Told once per unknown metric name, which is then dropped. */
  readonly onUnknownMetric?: (name: string) => void;
}

interface Pending {
  readonly metric: MetricDeclaration;
  readonly dimensions: Record<string, string>;
  readonly values: number[];
}

/** One EMF document as CloudWatch reads it; exported for tests that parse the output. */
export interface EmfDocument {
  readonly _aws: {
    readonly Timestamp: number;
    readonly CloudWatchMetrics: readonly {
      readonly Namespace: string;
      readonly Dimensions: readonly (readonly string[])[];
      readonly Metrics: readonly { readonly Name: string; readonly Unit: string }[];
    }[];
  };
  readonly [key: string]: unknown;
}

const dimensionKey = (dimensions: Record<string, string>): string =>
  JSON.stringify(Object.entries(dimensions).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

const chunk = <T>(items: readonly T[], size: number): T[][] => {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) {
    chunks.push(items.slice(start, start + size));
  }

  return chunks;
};

/** The documents for one dimension set: counts as one sum, durations split into chunks. */
const documentsOf = (group: readonly Pending[], timestamp: number): EmfDocument[] => {
  const first = group[0];
  if (first === undefined) {
    return [];
  }
  const rounds: Array<Array<[MetricDeclaration, number | number[]]>> = [];
  for (const pending of group) {
    const values =
      pending.metric.unit === 'Count'
        ? [[pending.values.reduce((sum, value) => sum + value, 0)]]
        : chunk(pending.values, MAX_EMF_VALUES_PER_METRIC);
    values.forEach((slice, index) => {
      const round = (rounds[index] ??= []);
      round.push([pending.metric, pending.metric.unit === 'Count' ? (slice[0] ?? 0) : slice]);
    });
  }

  return rounds.flatMap((round) =>
    chunk(round, MAX_EMF_METRICS_PER_DOCUMENT).map((metrics) => ({
      _aws: {
        Timestamp: timestamp,
        CloudWatchMetrics: [
          {
            Namespace: METRIC_NAMESPACE,
            Dimensions: [Object.keys(first.dimensions)],
            Metrics: metrics.map(([metric]) => ({ Name: metric.name, Unit: metric.unit })),
          },
        ],
      },
      ...first.dimensions,
      ...Object.fromEntries(metrics.map(([metric, value]) => [metric.name, value])),
    })),
  );
};

/** A sink that buffers records and writes them as EMF on `flush`. */
export const createEmfSink = (options: EmfSinkOptions): MetricSink => {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const now = options.now ?? Date.now;
  const pending = new Map<string, Pending>();
  const reported = new Set<string>();

  return {
    record: (name: string, value: number, given: MetricDimensions) => {
      const metric = metricDeclaration(name);
      if (metric === undefined) {
        if (!reported.has(name)) {
          reported.add(name);
          options.onUnknownMetric?.(name);
        }
        return;
      }
      if (!Number.isFinite(value)) {
        return;
      }
      const dimensions = { [STAGE_DIMENSION]: options.stage, ...declaredDimensions(metric, given) };
      const key = `${name}|${dimensionKey(dimensions)}`;
      const entry: Pending = pending.get(key) ?? { metric, dimensions, values: [] };
      entry.values.push(value);
      pending.set(key, entry);
    },
    flush: () => {
      const groups = new Map<string, Pending[]>();
      for (const entry of pending.values()) {
        const key = dimensionKey(entry.dimensions);
        groups.set(key, [...(groups.get(key) ?? []), entry]);
      }
      pending.clear();

      const timestamp = now();
      for (const group of groups.values()) {
        for (const document of documentsOf(group, timestamp)) {
          write(JSON.stringify(document));
        }
      }
    },
  };
};
