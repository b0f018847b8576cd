/**
 * The audit services of a running function, built once per process from the configuration:
 * the entry store, the checkpoint store, the sealer and the listing's dependencies.
 */
import { secretString } from '@shared/aws/secrets';
import { auditPageTokenSecret, auditPageTokenSecretArn } from '@shared/config';
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

/**
 * What `GET /v1/audit` reads with. The page-token key comes from Secrets Manager in AWS (the
 * stack passes only its ARN, so the value is in no template) and from the environment locally.
 */
export const gatewayAuditListing = async (): Promise<ListAuditEntriesDependencies> => {
  const secretArn = auditPageTokenSecretArn();

  return {
    entries: gatewayAuditStore(),
    checkpoints: gatewayAuditCheckpointStore(),
    pageTokenSecret:
      secretArn === undefined ? auditPageTokenSecret() : await secretString(secretArn),
  };
};
