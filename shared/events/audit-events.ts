/**
 * The `audit_events` producer: turns each new audit entry (an INSERT on the audit table) into
 * an `audit.created` event with the entry's unsealed fields. The sealer's later updates come
 * back as MODIFY records and are not announced again; nor are TTL removals. Deliveries of
 * events are never audited, or this channel would feed itself.
 */
import { isAuditEntryPk, readUnsealedAuditEntryItem } from '@shared/audit/dynamodb-audit-items';
import { AuditStoreError } from '@shared/audit/dynamodb-audit-items';
import type { EventDraft } from './event-store';
import { ProducerError, type StoredChange } from './stream-change';

export const AUDIT_CREATED = 'audit.created';

/**
 * The `audit.created` event of a change to the audit table, or `undefined` when the change is
 * not a new entry. Throws `producer.malformedImage` for an entry item of another shape.
 */
export const auditEventOf = (change: StoredChange): EventDraft | undefined => {
  const image = change.newImage;
  if (change.kind !== 'INSERT' || image === undefined || !isAuditEntryPk(image.pk?.S)) {
    return undefined;
  }
  let entry;
  try {
    entry = readUnsealedAuditEntryItem(image);
  } catch (error) {
    if (error instanceof AuditStoreError) {
      throw new ProducerError('producer.malformedImage', error.message);
    }
    throw error;
  }

  return {
    channel: 'audit_events',
    type: AUDIT_CREATED,
    data: {
      audit_id: entry.audit_id,
      timestamp: entry.timestamp,
      service: entry.service,
      operation: entry.operation,
      identity: entry.identity,
      outcome: entry.outcome,
      resource: entry.resource,
    },
    timestamp: entry.timestamp,
    requestId: entry.request_id,
    sourceId: `audit#${entry.audit_id}`,
  };
};
