/**
 * Where the audit signing key comes from in the place the code runs: derived from a Secrets
 * Manager secret in AWS (`audit-signing-key.ts` says why not KMS), the local audit key ring
 * otherwise. Only the sealer asks for it; nothing on the request path signs.
 */
import type { JsonWebKey } from 'node:crypto';
import { secretString } from '@shared/aws/secrets';
import { auditSigningSecretArn, ConfigurationError, localKeyRingDir } from '@shared/config';
import {
  deriveAuditSigningKey,
  openLocalAuditKeyRing,
  toPublishedAuditJwk,
  type AuditSigningKey,
} from './audit-signing-key';

export interface AuditKeySource {
  /** The key that seals now. */
  activeKey(): Promise<AuditSigningKey>;
  /** The public JWKs (with `kid`, `alg`, `use`) of every key this source holds, active first. */
  publicKeys(): Promise<JsonWebKey[]>;
}

/** The key of the secret's current value, read once per process and kept in memory. */
export const secretsManagerAuditKeySource = (secretArn: string): AuditKeySource => {
  let key: AuditSigningKey | undefined;
  // `secretString` keeps the value and forgets a failed read, so the next batch asks again.
  const load = async (): Promise<AuditSigningKey> => {
    key ??= deriveAuditSigningKey(await secretString(secretArn));

    return key;
  };

  return {
    activeKey: load,
    publicKeys: async () => [toPublishedAuditJwk(await load())],
  };
};

/** The local runtime's ring under `dataDir`, opened once. */
export const localAuditKeySource = (dataDir: string): AuditKeySource => {
  const ring = openLocalAuditKeyRing({ dataDir });

  return {
    activeKey: async () => (await ring).activeKey(),
    publicKeys: async () => (await ring).publishedKeys(),
  };
};

let shared: AuditKeySource | undefined;

/** The process's audit key source, chosen once from the configuration. */
export const auditKeySource = (): AuditKeySource => {
  if (shared !== undefined) {
    return shared;
  }
  const ringDir = localKeyRingDir();
  const secretArn = auditSigningSecretArn();
  if (ringDir === undefined && secretArn === undefined) {
    throw new ConfigurationError(
      'config.missingVariable: set AUDIT_SIGNING_SECRET_ARN (AWS) ' +
        'or BLUX_LOCAL_KEY_RING_DIR (local)',
    );
  }
  shared =
    ringDir === undefined
      ? secretsManagerAuditKeySource(secretArn as string)
      : localAuditKeySource(ringDir);

  return shared;
};
