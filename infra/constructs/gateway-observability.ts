/**
 * What an operator watches for one stage: a CloudWatch dashboard of the API, its functions,
 * its backlogs and the gateway's own metrics (`shared/metrics/metric-catalog.ts`), and alarms
 * on what needs a person: the 5xx rate, p99 latency, throttled functions, batches in a stream
 * consumer's failure queue, the audit sealer's lag (its stream IteratorAge) and failed event
 * deliveries. With an SNS topic, every alarm notifies it when it fires and when it clears.
 */
import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
  type IMetric,
  type IWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { CHANNEL_NAMES } from '@shared/events/channels';
import { METRIC_NAMESPACE, METRICS, STAGE_DIMENSION } from '@shared/metrics/metric-catalog';
import { InfraConfigError } from '@infra/infra-error';
import type { Stage } from '@infra/stage-config';

/** The period every alarm and graph reads. */
const PERIOD = Duration.minutes(5);

/** A math expression in an alarm may name at most 10 metrics. */
const MAX_METRICS_PER_ALARM_EXPRESSION = 10;

/** Thresholds of the alarms; each has a default that suits every stage. */
export interface ObservabilityThresholds {
  /**
   * Share of requests answered 5xx over five minutes, in percent.
   *
   * @default 5
   */
  readonly errorRatePercent?: number;
  /**
   * p99 of API Gateway's latency over five minutes, in milliseconds.
   *
   * @default 2000
   */
  readonly p99LatencyMs?: number;
  /**
   * Throttled invocations of the gateway's functions in five minutes.
   *
   * @default 0 - any throttle alarms
   */
  readonly throttles?: number;
  /**
   * The audit sealer's IteratorAge, the age of the newest record it has read, in milliseconds.
   *
   * @default 300000 - five minutes
   */
  readonly sealingLagMs?: number;
  /**
   * Failed event deliveries (`FanOutFailures`) across every channel in five minutes.
   *
   * @default 10
   */
  readonly fanOutFailures?: number;
}

/** A stream consumer's function and the queue its failed batches go to. */
export interface ObservedStreamConsumer {
  readonly id: string;
  readonly function: IFunction;
  readonly failureQueue: IQueue;
}

/** Props of `GatewayObservability`. */
export interface GatewayObservabilityProps {
  readonly stage: Stage;
  readonly httpApi: IHttpApi;
  /** Every route function, by route id. */
  readonly routeFunctions: ReadonlyMap<string, IFunction>;
  /** Every stream consumer, by consumer id. */
  readonly streamConsumers: ReadonlyMap<string, ObservedStreamConsumer>;
  /**
   * Functions that are neither routes nor stream consumers (scheduled jobs, WebSocket
   * handlers), by id: their throttles are watched too.
   *
   * @default - none
   */
  readonly otherFunctions?: ReadonlyMap<string, IFunction>;
  /**
   * The consumer whose IteratorAge is the sealing lag.
   *
   * @default - no sealing-lag alarm
   */
  readonly sealerConsumerId?: string;
  /**
   * Notified by every alarm when it fires and when it clears.
   *
   * @default - alarms without actions, visible on the dashboard and in the console
   */
  readonly alarmTopic?: ITopic;
  /** @default - the defaults of each threshold */
  readonly thresholds?: ObservabilityThresholds;
}

const DEFAULT_THRESHOLDS: Required<ObservabilityThresholds> = {
  errorRatePercent: 5,
  p99LatencyMs: 2_000,
  throttles: 0,
  sealingLagMs: 300_000,
  fanOutFailures: 10,
};

/** The dashboard and alarms of one stage. */
export class GatewayObservability extends Construct {
  readonly dashboard: Dashboard;
  /** Every alarm, by a stable key: `errorRate`, `p99Latency`, `deadLetters:<consumer>`, ... */
  readonly alarms: ReadonlyMap<string, Alarm>;
  private readonly alarmMap = new Map<string, Alarm>();
  private readonly stageName: Stage;
  private readonly topic: ITopic | undefined;

  constructor(scope: Construct, id: string, props: GatewayObservabilityProps) {
    super(scope, id);

    const thresholds = { ...DEFAULT_THRESHOLDS, ...props.thresholds };
    assertValidThresholds(thresholds);
    assertKnownSealer(props);
    this.stageName = props.stage;
    this.topic = props.alarmTopic;
    this.alarms = this.alarmMap;

    const api = props.httpApi;
    const functions = [
      ...props.routeFunctions.values(),
      ...[...props.streamConsumers.values()].map((consumer) => consumer.function),
      ...(props.otherFunctions?.values() ?? []),
    ];
    const errorRate = new MathExpression({
      expression: 'IF(requests > 0, 100 * errors / requests, 0)',
      usingMetrics: {
        errors: api.metricServerError({ period: PERIOD, statistic: 'Sum' }),
        requests: api.metricCount({ period: PERIOD, statistic: 'Sum' }),
      },
      label: '5xx rate (%)',
      period: PERIOD,
    });
    const p99Latency = api.metricLatency({ period: PERIOD, statistic: 'p99' });
    assertAlarmableChannels(CHANNEL_NAMES);
    const fanOutFailures = this.sumOf(
      CHANNEL_NAMES.map((channel) => this.gatewayMetric('FanOutFailures', { channel })),
      'fan-out failures',
    );

    this.addAlarm('errorRate', errorRate, thresholds.errorRatePercent, '5xx responses, in %');
    this.addAlarm('p99Latency', p99Latency, thresholds.p99LatencyMs, 'p99 latency, in ms');
    chunk(functions, MAX_METRICS_PER_ALARM_EXPRESSION).forEach((group, index) => {
      const throttles = this.sumOf(
        group.map((fn) => fn.metricThrottles({ period: PERIOD, statistic: 'Sum' })),
        'throttled invocations',
      );
      this.addAlarm(`throttles:${index}`, throttles, thresholds.throttles, 'throttled invocations');
    });
    for (const consumer of props.streamConsumers.values()) {
      this.addAlarm(
        `deadLetters:${consumer.id}`,
        consumer.failureQueue.metricApproximateNumberOfMessagesVisible({
          period: PERIOD,
          statistic: 'Maximum',
        }),
        0,
        `batches ${consumer.id} could not process, waiting in its failure queue`,
      );
    }
    const sealer =
      props.sealerConsumerId === undefined
        ? undefined
        : props.streamConsumers.get(props.sealerConsumerId);
    const sealingLag = sealer?.function.metric('IteratorAge', {
      period: PERIOD,
      statistic: 'Maximum',
    });
    if (sealingLag !== undefined) {
      this.addAlarm('sealingLag', sealingLag, thresholds.sealingLagMs, 'audit sealing lag, in ms');
    }
    if (fanOutFailures !== undefined) {
      this.addAlarm(
        'fanOutFailures',
        fanOutFailures,
        thresholds.fanOutFailures,
        'failed deliveries',
      );
    }

    this.dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `blux-${props.stage}-gateway`,
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(...this.widgets({ api, functions, errorRate, p99Latency }));
    this.dashboard.addWidgets(
      ...this.backlogWidgets(props.streamConsumers, sealingLag, fanOutFailures),
    );
    this.dashboard.addWidgets(...this.gatewayMetricWidgets());
  }

  /** One of the gateway's own metrics for this stage and the given dimension values. */
  private gatewayMetric(name: string, dimensions: Record<string, string>): Metric {
    return new Metric({
      namespace: METRIC_NAMESPACE,
      metricName: name,
      dimensionsMap: { [STAGE_DIMENSION]: this.stageName, ...dimensions },
      period: PERIOD,
      statistic: 'Sum',
    });
  }

  /** The sum of up to ten metrics as one expression; undefined for none. */
  private sumOf(metrics: readonly IMetric[], label: string): MathExpression | undefined {
    if (metrics.length === 0) {
      return undefined;
    }
    const usingMetrics = Object.fromEntries(metrics.map((metric, index) => [`m${index}`, metric]));

    return new MathExpression({
      expression: Object.keys(usingMetrics).join(' + '),
      usingMetrics,
      label,
      period: PERIOD,
    });
  }

  private addAlarm(
    key: string,
    metric: IMetric | undefined,
    threshold: number,
    what: string,
  ): void {
    if (metric === undefined) {
      return;
    }
    const alarm = new Alarm(this, `Alarm${key.replace(/[^A-Za-z0-9]/g, '')}`, {
      alarmName: `blux-${this.stageName}-${key.replace(':', '-')}`,
      alarmDescription: `BLUX gateway ${this.stageName}: ${what} above ${threshold}.`,
      metric,
      threshold,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      // No data means no traffic, no throttles and no failed batches: nothing to wake anyone.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    if (this.topic !== undefined) {
      alarm.addAlarmAction(new SnsAction(this.topic));
      alarm.addOkAction(new SnsAction(this.topic));
    }
    this.alarmMap.set(key, alarm);
  }

  private widgets(parts: {
    api: IHttpApi;
    functions: readonly IFunction[];
    errorRate: IMetric;
    p99Latency: IMetric;
  }): IWidget[] {
    const { api, functions } = parts;

    return [
      new TextWidget({
        markdown: `# BLUX gateway — ${this.stageName}`,
        width: 24,
        height: 1,
      }),
      new AlarmStatusWidget({
        title: 'Alarms',
        alarms: [...this.alarmMap.values()],
        width: 24,
        height: 3,
      }),
      new GraphWidget({
        title: 'Requests, 4xx and 5xx',
        left: [
          api.metricCount({ period: PERIOD, statistic: 'Sum' }),
          api.metricClientError({ period: PERIOD, statistic: 'Sum' }),
          api.metricServerError({ period: PERIOD, statistic: 'Sum' }),
        ],
        width: 8,
      }),
      new GraphWidget({ title: '5xx rate (%)', left: [parts.errorRate], width: 8 }),
      new GraphWidget({
        title: 'Latency (ms)',
        left: [
          api.metricLatency({ period: PERIOD, statistic: 'p50' }),
          parts.p99Latency,
          api.metricIntegrationLatency({ period: PERIOD, statistic: 'p99' }),
        ],
        width: 8,
      }),
      new GraphWidget({
        title: 'Function errors',
        left: functions.map((fn) => fn.metricErrors({ period: PERIOD, statistic: 'Sum' })),
        width: 12,
      }),
      new GraphWidget({
        title: 'Function throttles',
        left: functions.map((fn) => fn.metricThrottles({ period: PERIOD, statistic: 'Sum' })),
        width: 12,
      }),
    ];
  }

  private backlogWidgets(
    consumers: ReadonlyMap<string, ObservedStreamConsumer>,
    sealingLag: IMetric | undefined,
    fanOutFailures: IMetric | undefined,
  ): IWidget[] {
    return [
      new GraphWidget({
        title: 'Failure queues (batches waiting)',
        left: [...consumers.values()].map((consumer) =>
          consumer.failureQueue.metricApproximateNumberOfMessagesVisible({
            period: PERIOD,
            statistic: 'Maximum',
            label: consumer.id,
          }),
        ),
        width: 8,
      }),
      new GraphWidget({
        title: 'Audit sealing lag (IteratorAge, ms)',
        left: sealingLag === undefined ? [] : [sealingLag],
        width: 8,
      }),
      new GraphWidget({
        title: 'Fan-out failures',
        left: fanOutFailures === undefined ? [] : [fanOutFailures],
        width: 8,
      }),
    ];
  }

  /** A graph per catalog metric, every dimension value found by a search of the stage. */
  private gatewayMetricWidgets(): IWidget[] {
    return METRICS.map((metric) => {
      const schema = [METRIC_NAMESPACE, STAGE_DIMENSION, ...metric.dimensions].join(',');
      const statistic = metric.unit === 'Count' ? 'Sum' : 'p99';
      const search =
        `SEARCH('{${schema}} MetricName="${metric.name}" ` +
        `${STAGE_DIMENSION}="${this.stageName}"', '${statistic}', ${PERIOD.toSeconds()})`;

      return new GraphWidget({
        title: `${metric.name} (${statistic === 'Sum' ? 'count' : 'p99, ms'})`,
        left: [new MathExpression({ expression: search, usingMetrics: {}, period: PERIOD })],
        width: 6,
        height: 5,
      });
    });
  }
}

const chunk = <T>(items: readonly T[], size: number): T[][] => {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) {
    chunks.push(items.slice(start, start + size));
  }

  return chunks;
};

const assertValidThresholds = (thresholds: Required<ObservabilityThresholds>): void => {
  for (const [name, value] of Object.entries(thresholds)) {
    if (!Number.isFinite(value) || value < 0) {
      throw new InfraConfigError(
        'gatewayObservability.invalidThreshold',
        `alarm threshold ${name} is ${value}; it must be a number of at least 0`,
        { threshold: name, value },
      );
    }
  }
  if (thresholds.errorRatePercent > 100) {
    throw new InfraConfigError(
      'gatewayObservability.invalidThreshold',
      `errorRatePercent ${thresholds.errorRatePercent} is over 100`,
      { threshold: 'errorRatePercent', value: thresholds.errorRatePercent },
    );
  }
};

/**
 * The fan-out alarm sums `FanOutFailures` over every channel in one expression, which may name
 * ten metrics at most. Past ten channels it would need a Metrics Insights query instead; until
 * then the stack refuses rather than watch only some channels.
 */
const assertAlarmableChannels = (channels: readonly string[]): void => {
  if (channels.length > MAX_METRICS_PER_ALARM_EXPRESSION) {
    throw new InfraConfigError(
      'gatewayObservability.tooManyChannels',
      `${channels.length} channels are more than the ${MAX_METRICS_PER_ALARM_EXPRESSION} ` +
        'that one fan-out alarm can sum',
      { channels: channels.length },
    );
  }
};

const assertKnownSealer = (props: GatewayObservabilityProps): void => {
  const id = props.sealerConsumerId;
  if (id !== undefined && !props.streamConsumers.has(id)) {
    throw new InfraConfigError(
      'gatewayObservability.unknownSealer',
      `the sealer ${id} is not among the stream consumers ${[...props.streamConsumers.keys()].join(', ')}`,
      { sealerConsumerId: id },
    );
  }
};
