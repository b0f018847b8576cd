/**
 * Writes one audit entry on its own, for what has no stored change to go with it: a refusal,
 * a token issued, a token validated. Changes that are stored (tasks) write their entry in the
 * same transaction instead, with `auditPutItem`.
 */
import type { AuditEntryInput } from './audit-entry';
import { newAuditEntry } from './audit-ids';
import { recordMetric } from '@shared/metrics/metrics';
import { writeAuditEntry } from './dynamodb-audit-store';

/** Records the entry and returns its `audit_id`, for the response that mentions it. */
export const recordAudit = async (input: AuditEntryInput): Promise<string> => {
  const entry = newAuditEntry(input);
  await writeAuditEntry(entry);
  recordMetric('AuditEntriesWritten', 1, { service: entry.service });

  return entry.audit_id;
};
