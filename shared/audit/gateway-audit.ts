/**
 * The audit services of a running function, built once per process from the configuration:
 * the entry store, the checkpoint store, the sealer and the listing's dependencies.
 */
import { auditPageTokenSecret } from '@shared/config';
import { auditKeySource } from './audit-key-source';
import type { ListAuditEntriesDependencies } from './audit-listing';
import { createAuditSealer, type AuditSealer } from './audit-sealer';
import { gatewayAuditCheckpointStore } from './dynamodb-audit-checkpoint-store';
import { gatewayAuditStore } from './dynamodb-audit-store';

let sealer: AuditSealer | undefined;

/** The sealer of the `sealAudit` stream consumer. */
export const gatewayAuditSealer = (): AuditSealer => {
  sealer ??= createAuditSealer({ store: gatewayAuditCheckpointStore(), keys: auditKeySource() });

  return sealer;
};

/** What `GET /v1/audit` reads with; the secret is read on each call, so a missing one is a 500. */
export const gatewayAuditListing = (): ListAuditEntriesDependencies => ({
  entries: gatewayAuditStore(),
  checkpoints: gatewayAuditCheckpointStore(),
  pageTokenSecret: auditPageTokenSecret(),
});
