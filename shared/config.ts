/**
 * Runtime configuration read from the environment, the same variables in AWS (set by the
 * stack) and in the local runtime (set before handlers load).
 */
import { TABLES, type TableId } from './catalog/tables';

export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}

const required = (name: string): string => {
  const value = process.env[name];
  if (value === undefined || value === '') {
    throw new ConfigurationError(`config.missingVariable: ${name} is not set`);
  }

  return value;
};

/** The physical name of a table, from the variable the stack or the local runtime set. */
export const tableName = (id: TableId): string => required(TABLES[id].envVar);

/** The stage the code runs in: `dev`, `staging`, `prod`, or `local`. */
export const stageName = (): string => process.env.BLUX_STAGE ?? 'local';

/** Set only in the local runtime and in tests: where DynamoDB Local answers. */
export const dynamoDbEndpoint = (): string | undefined => process.env.DYNAMODB_ENDPOINT;

/** The `iss` of the gateway's own tokens: its public base URL. */
export const tokenIssuer = (): string => required('BLUX_ISSUER');

/** The `aud` of the gateway's own tokens. */
export const tokenAudience = (): string => process.env.BLUX_AUDIENCE ?? 'blux-api';

/**
 * The KMS keys that sign tokens in AWS, comma-separated, the active one first. A key rotated
 * out stays listed (and so published in the JWKS) until its last token has expired.
 */
export const tokenKmsKeyIds = (): string[] =>
  (process.env.TOKEN_KMS_KEY_IDS ?? '').split(',').filter((id) => id.trim() !== '');

/** Set only in the local runtime: the folder whose key ring holds the token keys. */
export const localKeyRingDir = (): string | undefined => process.env.BLUX_LOCAL_KEY_RING_DIR;

/** How long audit entries are kept when `AUDIT_RETENTION_DAYS` does not say otherwise. */
export const DEFAULT_AUDIT_RETENTION_DAYS = 400;

/**
 * Days an audit entry is kept before DynamoDB's TTL may delete it, from `AUDIT_RETENTION_DAYS`
 * (the stack makes it configurable per stage). A value that is not a whole positive number is a
 * deployment mistake, refused rather than read as "keep nothing".
 */
export const auditRetentionDays = (): number => {
  const text = process.env.AUDIT_RETENTION_DAYS;
  if (text === undefined || text === '') {
    return DEFAULT_AUDIT_RETENTION_DAYS;
  }
  const days = Number(text);
  if (!Number.isSafeInteger(days) || days < 1) {
    throw new ConfigurationError(
      `config.invalidVariable: AUDIT_RETENTION_DAYS must be a whole number of days, not ${text}`,
    );
  }

  return days;
};

/** The key that makes `GET /v1/audit` page tokens tamper-proof (HMAC-SHA-256). */
export const auditPageTokenSecret = (): string => required('AUDIT_PAGE_TOKEN_SECRET');

/** Set in AWS only: the Secrets Manager secret that keys the audit page tokens. */
export const auditPageTokenSecretArn = (): string | undefined =>
  process.env.AUDIT_PAGE_TOKEN_SECRET_ARN || undefined;

/** Set in AWS only: the Secrets Manager secret the audit signing key is derived from. */
export const auditSigningSecretArn = (): string | undefined =>
  process.env.AUDIT_SIGNING_SECRET_ARN || undefined;
