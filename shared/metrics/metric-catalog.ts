/**
 * Every metric the gateway emits, declared once: its CloudWatch name, unit and dimensions, and
 * its Prometheus name, type and help. The EMF sink, the Prometheus registry, the CloudWatch
 * renderer behind `GET /metrics` in AWS, the dashboard and the alarms all read this list, so a
 * metric exists in one place exactly when it exists in the others.
 */

/** The CloudWatch namespace of every gateway metric. */
export const METRIC_NAMESPACE = 'BLUX/Gateway';

/** The dimension every metric carries besides its own, so stages never mix. */
export const STAGE_DIMENSION = 'stage';

/** A dimension value that was not given; it keeps the dimension set complete. */
export const MISSING_DIMENSION_VALUE = 'none';

/** CloudWatch units in use: a count of things, or a duration in milliseconds. */
export type MetricUnit = 'Count' | 'Milliseconds';

/**
 * How Prometheus sees a metric: a `counter` (its name ends in `_total`) or a `histogram` of
 * seconds (the gateway measures milliseconds; the registry divides by 1,000).
 */
export type PrometheusType = 'counter' | 'histogram';

export interface MetricDeclaration {
  /** The CloudWatch name, PascalCase, as code passes it to `recordMetric`. */
  readonly name: string;
  readonly unit: MetricUnit;
  /** Its own dimensions, besides `stage`: few keys, each with a bounded set of values. */
  readonly dimensions: readonly string[];
  /** One sentence for the Prometheus HELP line and the dashboard. */
  readonly help: string;
  readonly prometheus: { readonly name: string; readonly type: PrometheusType };
}

const counter = (
  name: string,
  prometheusName: string,
  dimensions: readonly string[],
  help: string,
): MetricDeclaration => ({
  name,
  unit: 'Count',
  dimensions,
  help,
  prometheus: { name: prometheusName, type: 'counter' },
});

const durationHistogram = (
  name: string,
  prometheusName: string,
  dimensions: readonly string[],
  help: string,
): MetricDeclaration => ({
  name,
  unit: 'Milliseconds',
  dimensions,
  help,
  prometheus: { name: prometheusName, type: 'histogram' },
});

export const METRICS = [
  // HTTP, identity and audit.
  counter('Requests', 'blux_requests_total', ['route', 'status_class'], 'HTTP requests answered.'),
  durationHistogram(
    'Latency',
    'blux_request_duration_seconds',
    ['route'],
    'Time from the request entering the pipeline to its response.',
  ),
  counter('ColdStarts', 'blux_cold_starts_total', ['function'], 'First invocations of a process.'),
  counter(
    'AuthenticationFailures',
    'blux_authentication_failures_total',
    ['reason'],
    'Requests refused with 401, by the reason of the refusal.',
  ),
  counter('RateLimited', 'blux_rate_limited_total', ['route'], 'Requests refused with 429.'),
  counter('TokensIssued', 'blux_tokens_issued_total', [], 'Access tokens issued.'),
  counter(
    'AuditEntriesWritten',
    'blux_audit_entries_written_total',
    ['service'],
    'Audit entries written.',
  ),
  counter('AuditEntriesSealed', 'blux_audit_entries_sealed_total', [], 'Audit entries sealed.'),
  // Tasks.
  counter('TasksCreated', 'blux_tasks_created_total', ['type'], 'Tasks created.'),
  counter('TasksCompleted', 'blux_tasks_completed_total', ['type'], 'Tasks that completed.'),
  counter('TasksFailed', 'blux_tasks_failed_total', ['type'], 'Tasks that failed for good.'),
  counter('TasksCancelled', 'blux_tasks_cancelled_total', ['type'], 'Tasks cancelled.'),
  counter('TaskRetries', 'blux_task_retries_total', ['type'], 'Task attempts retried.'),
  durationHistogram(
    'TaskDuration',
    'blux_task_duration_seconds',
    ['type'],
    'Time a task took from its start to its end.',
  ),
  // Events.
  counter('EventsPublished', 'blux_events_published_total', ['channel'], 'Events published.'),
  counter(
    'WebSocketConnections',
    'blux_websocket_connections_total',
    ['outcome'],
    'WebSocket connection attempts, by whether they were accepted.',
  ),
  counter(
    'WebSocketDisconnections',
    'blux_websocket_disconnections_total',
    [],
    'WebSocket connections closed.',
  ),
  counter(
    'WebSocketMessages',
    'blux_websocket_messages_total',
    ['type'],
    'WebSocket messages received.',
  ),
  counter(
    'FanOutDeliveries',
    'blux_fan_out_deliveries_total',
    ['channel'],
    'Events delivered to a subscriber.',
  ),
  counter(
    'FanOutGone',
    'blux_fan_out_gone_total',
    ['channel'],
    'Deliveries to connections that had gone (410).',
  ),
  counter(
    'FanOutFailures',
    'blux_fan_out_failures_total',
    ['channel'],
    'Deliveries that failed for another reason.',
  ),
  counter('SseStreams', 'blux_sse_streams_total', [], 'Server-sent event streams opened.'),
] as const satisfies readonly MetricDeclaration[];

const BY_NAME: ReadonlyMap<string, MetricDeclaration> = new Map(
  METRICS.map((metric) => [metric.name, metric]),
);

/** The declaration of `name`, or undefined when the catalog has no such metric. */
export const metricDeclaration = (name: string): MetricDeclaration | undefined => BY_NAME.get(name);

/**
 * The dimensions a metric is emitted with: exactly its declared keys, in declared order, each
 * with the value given or `none`. Keys it does not declare are dropped, so a call site cannot
 * raise a metric's cardinality by passing an id.
 */
export const declaredDimensions = (
  metric: MetricDeclaration,
  given: Readonly<Record<string, string>>,
): Record<string, string> => {
  const dimensions: Record<string, string> = {};
  for (const key of metric.dimensions) {
    dimensions[key] = given[key] ?? MISSING_DIMENSION_VALUE;
  }

  return dimensions;
};

/** `2xx`, `4xx`, `5xx`: the status class that `Requests` is counted by. */
export const statusClassOf = (status: number): string => `${Math.floor(status / 100)}xx`;
