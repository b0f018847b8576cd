/**
 * The `publishTaskEvents` stream consumer: announces on `task_updates` each task's creation
 * and status change that the tasks table's stream reports. A failure throws, so that the event
 * source mapping delivers the batch again; changes already published are not repeated.
 */
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { gatewayEventStore } from '@shared/events/event-store';
import { publishChanges } from '@shared/events/publish-changes';
import { taskEventOf } from '@shared/events/task-events';
import { storedChangeOf } from '@shared/lambda/stream-records';
import { logger } from '@shared/logging/logger';
import { withInvocationMetrics } from '@shared/metrics/metrics-invocation';

export const handler = withInvocationMetrics(async (event: DynamoDBStreamEvent): Promise<void> => {
  const changes = event.Records.map(storedChangeOf).filter((change) => change !== undefined);
  const published = await publishChanges(changes, taskEventOf, gatewayEventStore());

  logger.info('task events published', {
    records: event.Records.length,
    published: published.length,
    last_event_id: published.at(-1)?.id ?? null,
  });
});
