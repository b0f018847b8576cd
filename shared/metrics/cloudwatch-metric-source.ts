/**
 * Reads a stage's gateway metrics of the recent window from CloudWatch: `ListMetrics` finds
 * which dimension values exist (every route, every status class seen in the last three
 * hours), then `GetMetricData` reads the window's sum of each count and the percentiles of
 * each duration. The result is kept briefly, because a Prometheus server scrapes every few
 * seconds and CloudWatch charges per metric read.
 */
import {
  GetMetricDataCommand,
  ListMetricsCommand,
  type CloudWatchClient,
  type MetricDataQuery,
  type Metric,
} from '@aws-sdk/client-cloudwatch';
import {
  CLOUDWATCH_WINDOW_SECONDS,
  DURATION_QUANTILES,
  type DurationStatistic,
  type WindowExposition,
  type WindowSeries,
} from './cloudwatch-exposition';
import {
  metricDeclaration,
  METRIC_NAMESPACE,
  STAGE_DIMENSION,
  type MetricDeclaration,
} from './metric-catalog';

/** How long a rendering is reused. */
export const CLOUDWATCH_CACHE_SECONDS = 60;

/** GetMetricData takes at most 500 queries per call. */
export const MAX_QUERIES_PER_CALL = 500;

/** Pages of ListMetrics read at most (500 metrics each): far above what the catalog makes. */
const MAX_LIST_PAGES = 10;

/** Metrics seen within this span are listed; older dimension values have gone quiet. */
const RECENTLY_ACTIVE = 'PT3H';

const SECONDS_PER_MINUTE = 60;
const MS_PER_SECOND = 1_000;

/** The two calls this source makes; the SDK's client satisfies it, tests pass recordings. */
export type CloudWatchSender = Pick<CloudWatchClient, 'send'>;

interface Found {
  readonly metric: MetricDeclaration;
  readonly dimensions: Record<string, string>;
}

/** A listed metric, kept only when it is the catalog's, with exactly its declared dimensions. */
const foundOf = (listed: Metric): Found | undefined => {
  const metric = metricDeclaration(listed.MetricName ?? '');
  if (metric === undefined) {
    return undefined;
  }
  const given = new Map((listed.Dimensions ?? []).map((d) => [d.Name ?? '', d.Value ?? '']));
  const expected = [STAGE_DIMENSION, ...metric.dimensions];
  if (given.size !== expected.length || !expected.every((key) => given.has(key))) {
    return undefined;
  }

  return {
    metric,
    dimensions: Object.fromEntries(expected.map((key) => [key, given.get(key) ?? ''])),
  };
};

const listStageMetrics = async (client: CloudWatchSender, stage: string): Promise<Found[]> => {
  const found: Found[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < MAX_LIST_PAGES; page += 1) {
    const output = await client.send(
      new ListMetricsCommand({
        Namespace: METRIC_NAMESPACE,
        Dimensions: [{ Name: STAGE_DIMENSION, Value: stage }],
        RecentlyActive: RECENTLY_ACTIVE,
        NextToken: nextToken,
      }),
    );
    found.push(...(output.Metrics ?? []).flatMap((listed) => foundOf(listed) ?? []));
    nextToken = output.NextToken;
    if (nextToken === undefined) {
      break;
    }
  }

  return found;
};

const statisticsOf = (metric: MetricDeclaration): readonly string[] =>
  metric.unit === 'Count' ? ['Sum'] : DURATION_QUANTILES.map(({ statistic }) => statistic);

/** One query per statistic of each found metric; ids say which (`m<index>_<statistic>`). */
const queriesOf = (found: readonly Found[]): MetricDataQuery[] =>
  found.flatMap(({ metric, dimensions }, index) =>
    statisticsOf(metric).map((statistic) => ({
      Id: `m${index}_${statistic.toLowerCase()}`,
      MetricStat: {
        Metric: {
          Namespace: METRIC_NAMESPACE,
          MetricName: metric.name,
          Dimensions: Object.entries(dimensions).map(([Name, Value]) => ({ Name, Value })),
        },
        Period: CLOUDWATCH_WINDOW_SECONDS,
        Stat: statistic,
      },
      ReturnData: true,
    })),
  );

const readValues = async (
  client: CloudWatchSender,
  queries: readonly MetricDataQuery[],
  windowEnd: Date,
): Promise<Map<string, number>> => {
  const values = new Map<string, number>();
  const startTime = new Date(windowEnd.getTime() - CLOUDWATCH_WINDOW_SECONDS * MS_PER_SECOND);
  for (let start = 0; start < queries.length; start += MAX_QUERIES_PER_CALL) {
    let nextToken: string | undefined;
    do {
      const output = await client.send(
        new GetMetricDataCommand({
          MetricDataQueries: queries.slice(start, start + MAX_QUERIES_PER_CALL),
          StartTime: startTime,
          EndTime: windowEnd,
          NextToken: nextToken,
        }),
      );
      for (const result of output.MetricDataResults ?? []) {
        const points = result.Values ?? [];
        if (result.Id !== undefined && points.length > 0) {
          // One period spans the window; should CloudWatch split it, the parts add up.
          values.set(
            result.Id,
            points.reduce((sum, value) => sum + value, 0),
          );
        }
      }
      nextToken = output.NextToken;
    } while (nextToken !== undefined);
  }

  return values;
};

/** The window ends on the last whole minute: the minute in progress is still arriving. */
export const windowEndAt = (now: Date): Date =>
  new Date(
    Math.floor(now.getTime() / (SECONDS_PER_MINUTE * MS_PER_SECOND)) *
      SECONDS_PER_MINUTE *
      MS_PER_SECOND,
  );

/** The stage's metrics over the window that ends on the last whole minute before `now`. */
export const readCloudWatchWindow = async (
  client: CloudWatchSender,
  stage: string,
  now: Date = new Date(),
): Promise<WindowExposition> => {
  const windowEnd = windowEndAt(now);
  const found = await listStageMetrics(client, stage);
  const values =
    found.length === 0 ? new Map() : await readValues(client, queriesOf(found), windowEnd);

  const series = found.map(({ metric, dimensions }, index): WindowSeries => {
    if (metric.unit === 'Count') {
      return { metric, dimensions, sum: values.get(`m${index}_sum`) ?? 0 };
    }
    const percentiles: Partial<Record<DurationStatistic, number>> = {};
    for (const { statistic } of DURATION_QUANTILES) {
      const value = values.get(`m${index}_${statistic}`);
      if (value !== undefined) {
        percentiles[statistic] = value;
      }
    }

    return { metric, dimensions, percentiles };
  });

  return { series, windowEnd, windowSeconds: CLOUDWATCH_WINDOW_SECONDS };
};
