/**
 * The `publishAuditEvents` stream consumer: announces on `audit_events` each new audit entry
 * that the audit table's stream reports. The sealer's updates and TTL removals are ignored. A
 * failure throws, so that the batch is delivered again; entries already published are not
 * repeated.
 */
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { auditEventOf } from '@shared/events/audit-events';
import { gatewayEventStore } from '@shared/events/event-store';
import { publishChanges } from '@shared/events/publish-changes';
import { storedChangeOf } from '@shared/lambda/stream-records';
import { logger } from '@shared/logging/logger';
import { withInvocationMetrics } from '@shared/metrics/metrics-invocation';

export const handler = withInvocationMetrics(async (event: DynamoDBStreamEvent): Promise<void> => {
  const changes = event.Records.map(storedChangeOf).filter((change) => change !== undefined);
  const published = await publishChanges(changes, auditEventOf, gatewayEventStore());

  logger.info('audit events published', {
    records: event.Records.length,
    published: published.length,
    last_event_id: published.at(-1)?.id ?? null,
  });
});
