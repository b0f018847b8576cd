/**
 * `GET /metrics`: the gateway's metrics as Prometheus text format 0.0.4, for callers with
 * `metrics:read`. In the local runtime it renders the in-process registry every route feeds.
 * In AWS, where each Lambda instance holds only its own few requests and cannot be scraped,
 * it renders the stage's CloudWatch metrics of the last five minutes instead, as gauges named
 * for that window (see `shared/metrics/cloudwatch-exposition.ts`), kept for 60 s.
 *
 * Like `/health`, it is not counted against the caller's rate limits: a monitor must reach it
 * whatever its budget. API Gateway's stage throttle still holds.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { stageName } from '@shared/config';
import { ServiceUnavailableError } from '@shared/errors/gateway-error';
import { httpRoute } from '@shared/lambda/http-route';
import { logger } from '@shared/logging/logger';
import { renderWindowExposition } from '@shared/metrics/cloudwatch-exposition';
import {
  CLOUDWATCH_CACHE_SECONDS,
  readCloudWatchWindow,
} from '@shared/metrics/cloudwatch-metric-source';
import { installedPrometheusSink, PROMETHEUS_CONTENT_TYPE } from '@shared/metrics/prometheus-sink';

const MS_PER_SECOND = 1_000;

/** When CloudWatch cannot be read, a scraper should try again after this long. */
const CLOUDWATCH_RETRY_AFTER_SECONDS = 30;

let cloudWatch: CloudWatchClient | undefined;
let cached: { readonly text: string; readonly expiresAtMs: number } | undefined;

const cloudWatchText = async (): Promise<string> => {
  const now = Date.now();
  if (cached !== undefined && cached.expiresAtMs > now) {
    return cached.text;
  }

  cloudWatch ??= new CloudWatchClient({});
  const window = await readCloudWatchWindow(cloudWatch, stageName(), new Date(now)).catch(
    (error: unknown) => {
      logger.error('CloudWatch metrics could not be read', { error });
      throw new ServiceUnavailableError(
        'The metrics store did not answer; retry later.',
        CLOUDWATCH_RETRY_AFTER_SECONDS,
        error,
      );
    },
  );
  const text = renderWindowExposition(window);
  cached = { text, expiresAtMs: now + CLOUDWATCH_CACHE_SECONDS * MS_PER_SECOND };

  return text;
};

// The catalog marks the route `rateLimit: 'exempt'`: the pipeline counts no scrape.
export const handler = httpRoute('getMetrics', {
  handle: async () => {
    const registry = installedPrometheusSink();
    const text = registry === undefined ? await cloudWatchText() : await registry.render();

    return {
      statusCode: 200,
      headers: { 'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Cache-Control': 'no-store' },
      body: text,
    };
  },
});
