/**
 * Secrets Manager values a function needs, read once per process. A failed read is not kept,
 * so the next request tries again; throttling and outages answer 503, not 500.
 */
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigurationError } from '@shared/config';
import { ServiceUnavailableError } from '@shared/errors/gateway-error';

const SECRETS_MAX_ATTEMPTS = 3;
const SECRETS_RETRY_AFTER_SECONDS = 1;

let client: SecretsManagerClient | undefined;
const cache = new Map<string, Promise<string>>();

const fetchSecret = async (secretArn: string): Promise<string> => {
  client ??= new SecretsManagerClient({ maxAttempts: SECRETS_MAX_ATTEMPTS });
  let value: string | undefined;
  try {
    value = (await client.send(new GetSecretValueCommand({ SecretId: secretArn }))).SecretString;
  } catch (error) {
    throw new ServiceUnavailableError(
      'A secret could not be read.',
      SECRETS_RETRY_AFTER_SECONDS,
      error,
    );
  }
  if (value === undefined || value === '') {
    throw new ConfigurationError(`config.invalidSecret: ${secretArn} has no string value`);
  }

  return value;
};

/** The string value of a secret, fetched on first use and kept for the process's life. */
export const secretString = (secretArn: string): Promise<string> => {
  const known = cache.get(secretArn);
  if (known !== undefined) {
    return known;
  }
  const loading = fetchSecret(secretArn).catch((error: unknown) => {
    cache.delete(secretArn);
    throw error;
  });
  cache.set(secretArn, loading);

  return loading;
};
