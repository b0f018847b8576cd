import {
  GetMetricDataCommand,
  ListMetricsCommand,
  type GetMetricDataCommandOutput,
  type ListMetricsCommandOutput,
} from '@aws-sdk/client-cloudwatch';
import { describe, expect, it } from 'vitest';
import {
  CLOUDWATCH_WINDOW_SECONDS,
  renderWindowExposition,
  windowMetricName,
} from '@shared/metrics/cloudwatch-exposition';
import {
  readCloudWatchWindow,
  type CloudWatchSender,
} from '@shared/metrics/cloudwatch-metric-source';
import { metricDeclaration, METRIC_NAMESPACE } from '@shared/metrics/metric-catalog';
import { familyOf, parsePrometheus, sampleValue } from '@test/fixtures/prometheus';

const NOW = new Date('2026-12-03T21:07:42.123Z');
const WINDOW_END = new Date('2026-12-03T21:07:00.000Z');

const dims = (values: Record<string, string>) =>
  Object.entries(values).map(([Name, Value]) => ({ Name, Value }));

/** ListMetrics as CloudWatch answered it for a dev stage, in two pages. */
const LIST_PAGES = [
  {
    Metrics: [
      {
        Namespace: METRIC_NAMESPACE,
        MetricName: 'Requests',
        Dimensions: dims({ stage: 'dev', route: 'getHealth', status_class: '2xx' }),
      },
      {
        Namespace: METRIC_NAMESPACE,
        MetricName: 'Latency',
        Dimensions: dims({ route: 'getHealth', stage: 'dev' }),
      },
      // Not the catalog's: another tool wrote into the namespace.
      { Namespace: METRIC_NAMESPACE, MetricName: 'Custom', Dimensions: dims({ stage: 'dev' }) },
    ],
    NextToken: 'page-2',
  },
  {
    Metrics: [
      {
        Namespace: METRIC_NAMESPACE,
        MetricName: 'Requests',
        Dimensions: dims({ stage: 'dev', route: 'notFound', status_class: '4xx' }),
      },
      // The stage alone: an aggregate over routes that the catalog does not declare.
      { Namespace: METRIC_NAMESPACE, MetricName: 'Requests', Dimensions: dims({ stage: 'dev' }) },
    ],
  },
] satisfies Partial<ListMetricsCommandOutput>[];

/** GetMetricData's answer to the queries the listing above leads to. */
const METRIC_DATA = {
  MetricDataResults: [
    { Id: 'm0_sum', Values: [41], Timestamps: [WINDOW_END] },
    { Id: 'm1_p50', Values: [12], Timestamps: [WINDOW_END] },
    { Id: 'm1_p90', Values: [40], Timestamps: [WINDOW_END] },
    { Id: 'm1_p99', Values: [250], Timestamps: [WINDOW_END] },
    { Id: 'm2_sum', Values: [3, 4], Timestamps: [WINDOW_END, WINDOW_END] },
  ],
} satisfies Partial<GetMetricDataCommandOutput>;

const recordedCloudWatch = () => {
  const sent: unknown[] = [];
  let page = 0;
  const sender = {
    send: async (command: unknown) => {
      sent.push(command);
      if (command instanceof ListMetricsCommand) {
        return LIST_PAGES[page++];
      }
      if (command instanceof GetMetricDataCommand) {
        return METRIC_DATA;
      }
      throw new Error('unexpected command');
    },
  } as unknown as CloudWatchSender;

  return { sender, sent };
};

describe('reading a stage from CloudWatch', () => {
  it('lists the stage recently active, then reads each catalog metric over the window', async () => {
    const { sender, sent } = recordedCloudWatch();

    const window = await readCloudWatchWindow(sender, 'dev', NOW);

    const [list, , data] = sent as [ListMetricsCommand, ListMetricsCommand, GetMetricDataCommand];
    expect(list.input).toMatchObject({
      Namespace: METRIC_NAMESPACE,
      Dimensions: [{ Name: 'stage', Value: 'dev' }],
      RecentlyActive: 'PT3H',
    });
    expect(sent).toHaveLength(3);
    expect(data.input.EndTime).toEqual(WINDOW_END);
    expect(data.input.StartTime).toEqual(
      new Date(WINDOW_END.getTime() - CLOUDWATCH_WINDOW_SECONDS * 1_000),
    );
    expect(data.input.MetricDataQueries?.map((query) => query.Id)).toEqual([
      'm0_sum',
      'm1_p50',
      'm1_p90',
      'm1_p99',
      'm2_sum',
    ]);
    expect(data.input.MetricDataQueries?.[1]?.MetricStat).toMatchObject({
      Period: CLOUDWATCH_WINDOW_SECONDS,
      Stat: 'p50',
      Metric: { MetricName: 'Latency', Dimensions: dims({ stage: 'dev', route: 'getHealth' }) },
    });
    expect(window.series.map((series) => [series.metric.name, series.sum])).toEqual([
      ['Requests', 41],
      ['Latency', undefined],
      ['Requests', 7],
    ]);
  });
});

describe('rendering the window for Prometheus', () => {
  it('gives gauges named for the window that a real parser reads back', async () => {
    const { sender } = recordedCloudWatch();
    const text = renderWindowExposition(await readCloudWatchWindow(sender, 'dev', NOW));

    const families = parsePrometheus(text);
    const requests = familyOf(families, 'blux_requests_last_5m');
    expect(requests.type).toBe('GAUGE');
    expect(requests.help).toContain('over the 300 s up to 2026-12-03T21:07:00.000Z');
    expect(sampleValue(requests, { route: 'getHealth', status_class: '2xx' })).toBe(41);
    expect(sampleValue(requests, { route: 'notFound', status_class: '4xx' })).toBe(7);
    const latency = familyOf(families, 'blux_request_duration_seconds_last_5m');
    expect(latency.type).toBe('GAUGE');
    expect(sampleValue(latency, { route: 'getHealth', quantile: '0.99' })).toBe(0.25);
    expect(sampleValue(latency, { route: 'getHealth', quantile: '0.5' })).toBe(0.012);
    expect(sampleValue(familyOf(families, 'blux_metrics_window_end_timestamp_seconds'), {})).toBe(
      WINDOW_END.getTime() / 1_000,
    );
    expect(text).not.toMatch(/_total[{ ]/);
  });

  it('names window gauges after the counter without its _total', () => {
    const requests = metricDeclaration('Requests');
    if (requests === undefined) {
      throw new Error('Requests is not in the catalog');
    }

    expect(windowMetricName(requests, 300)).toBe('blux_requests_last_5m');
    expect(windowMetricName(requests, 90)).toBe('blux_requests_last_90s');
  });

  it('escapes label values so that a quote cannot end the label early', () => {
    const requests = metricDeclaration('Requests');
    if (requests === undefined) {
      throw new Error('Requests is not in the catalog');
    }
    const text = renderWindowExposition({
      series: [{ metric: requests, dimensions: { stage: 'dev', route: 'a"b\\c' }, sum: 1 }],
      windowEnd: WINDOW_END,
      windowSeconds: 300,
    });

    expect(text).toContain('blux_requests_last_5m{stage="dev",route="a\\"b\\\\c"} 1');
    expect(() => parsePrometheus(text)).not.toThrow();
  });
});
