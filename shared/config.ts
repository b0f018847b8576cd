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
