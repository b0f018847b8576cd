/**
 * The gateway's metrics as the code that counts them sees it: a name from the catalog, a value
 * and low-cardinality dimensions. Where they go is not this module's business: sinks register
 * here (CloudWatch EMF in Lambda, an in-process Prometheus registry in the local runtime), so
 * that domain code never imports either.
 */

/** Dimensions are a few fixed keys with a bounded set of values: never an id or a user. */
export type MetricDimensions = Readonly<Record<string, string>>;

export interface MetricSink {
  /** Adds `value` to a counter, or observes it on a histogram, by the metric's declaration. */
  record(name: string, value: number, dimensions: MetricDimensions): void;
  /** Writes out what is buffered: once per invocation in Lambda. */
  flush?(): void | Promise<void>;
}

const sinks: MetricSink[] = [];

/** Adds a sink; every metric recorded from now on reaches it. */
export const registerMetricSink = (sink: MetricSink): void => {
  sinks.push(sink);
};

/** Removes a sink, for tests. */
export const unregisterMetricSink = (sink: MetricSink): void => {
  const index = sinks.indexOf(sink);
  if (index >= 0) {
    sinks.splice(index, 1);
  }
};

/**
 * Records `value` (1 for a count) for the metric `name`. A failing sink never fails the work
 * that was being measured.
 */
export const recordMetric = (name: string, value = 1, dimensions: MetricDimensions = {}): void => {
  for (const sink of sinks) {
    try {
      sink.record(name, value, dimensions);
    } catch {
      // Measuring must not break what it measures; the sink reports its own faults.
    }
  }
};

/** Flushes every sink that buffers. */
export const flushMetrics = async (): Promise<void> => {
  await Promise.all(sinks.map(async (sink) => sink.flush?.()));
};
