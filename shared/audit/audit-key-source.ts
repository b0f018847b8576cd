/**
 * Where the audit signing key comes from in the place the code runs: derived from a Secrets
 * Manager secret in AWS (`audit-signing-key.ts` says why not KMS), the local audit key ring
 * otherwise. Only the sealer asks for it; nothing on the request path signs.
 */
import type { JsonWebKey } from 'node:crypto';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { auditSigningSecretArn, ConfigurationError, localKeyRingDir } from '@shared/config';
import {
  deriveAuditSigningKey,
  openLocalAuditKeyRing,
  toPublishedAuditJwk,
  type AuditSigningKey,
} from './audit-signing-key';

/** Secrets Manager calls per cold start, retries included, before the batch fails. */
const SECRETS_MANAGER_MAX_ATTEMPTS = 3;

export interface AuditKeySource {
  /** The key that seals now. */
  activeKey(): Promise<AuditSigningKey>;
  /** The public JWKs (with `kid`, `alg`, `use`) of every key this source holds, active first. */
  publicKeys(): Promise<JsonWebKey[]>;
}

/** The key of the secret's current value, read once per process and kept in memory. */
export const secretsManagerAuditKeySource = (
  secretArn: string,
  client: SecretsManagerClient = new SecretsManagerClient({
    maxAttempts: SECRETS_MANAGER_MAX_ATTEMPTS,
  }),
): AuditKeySource => {
  let key: Promise<AuditSigningKey> | undefined;
  const load = (): Promise<AuditSigningKey> => {
    key ??= client
      .send(new GetSecretValueCommand({ SecretId: secretArn }))
      .then((secret) => {
        if (secret.SecretString === undefined) {
          throw new ConfigurationError(
            'config.invalidSecret: the audit signing secret has no string value',
          );
        }

        return deriveAuditSigningKey(secret.SecretString);
      })
      .catch((error: unknown) => {
        // A failed read is not kept: the next batch asks Secrets Manager again.
        key = undefined;
        throw error;
      });

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
