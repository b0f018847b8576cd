/**
 * The `sealAudit` stream consumer: seals the audit entries that the `audit` table's stream
 * reports as new. Its own seal updates come back as MODIFY records and are ignored, as are TTL
 * deletions. A failure throws, so that the event source mapping retries the batch (bisecting it
 * to isolate a bad record, which ends in the failure destination); entries sealed by an earlier
 * try are skipped, never sealed twice.
 */
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda';
import type { UnsealedAuditEntry } from '@shared/audit/audit-entry';
import { gatewayAuditSealer } from '@shared/audit/gateway-audit';
import { isAuditEntryPk, readUnsealedAuditEntryItem } from '@shared/audit/dynamodb-audit-items';
import { logger } from '@shared/logging/logger';
import { withInvocationMetrics } from '@shared/metrics/metrics-invocation';

const newEntryOf = (record: DynamoDBRecord): UnsealedAuditEntry | undefined => {
  const image = record.dynamodb?.NewImage;
  if (record.eventName !== 'INSERT' || image === undefined || !isAuditEntryPk(image.pk?.S)) {
    return undefined;
  }

  return readUnsealedAuditEntryItem(image);
};

export const handler = withInvocationMetrics(async (event: DynamoDBStreamEvent): Promise<void> => {
  const entries = event.Records.map(newEntryOf).filter((entry) => entry !== undefined);
  const report = await gatewayAuditSealer().seal(entries);

  logger.info('audit batch sealed', { records: event.Records.length, ...report });
});
