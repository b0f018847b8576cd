/**
 * The client-credentials grant: checks a client's secret, holds it to its allowed scopes and
 * signs its token. Failures are counted per client so that guessing is slowed down and then
 * refused for a while; an unknown client and a wrong secret fail alike, in the same time.
 */
import { OAuthError, ClientLockedError } from '@shared/errors/oauth-error';
import {
  decideAttempt,
  isValidClientId,
  verifyClientSecret,
  type ClientStore,
} from './client-registry';
import type { TokenKeySource } from './token-keys';
import type { TokenRequest } from './token-request';
import { issueAccessToken, type IssuedAccessToken } from './tokens/token-issuer';

export interface GrantDependencies {
  readonly clients: ClientStore;
  readonly keys: TokenKeySource;
  readonly issuer: string;
  readonly audience: string;
  readonly now?: () => Date;
  /** How the slow-down waits; tests pass a clock of their own. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Told of every failed secret check, alongside the per-client count (the per-source one). */
  readonly onAuthenticationFailure?: () => Promise<void>;
}

export interface Grant extends IssuedAccessToken {
  readonly clientId: string;
  readonly scopes: readonly string[];
}

const wait = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

const invalidClient = (): OAuthError =>
  new OAuthError('invalid_client', 'Client authentication failed.', {
    'WWW-Authenticate': 'Basic realm="blux", charset="UTF-8"',
  });

export const grantClientCredentials = async (
  request: TokenRequest,
  dependencies: GrantDependencies,
): Promise<Grant> => {
  const now = dependencies.now?.() ?? new Date();
  const { clients } = dependencies;
  // Ids that cannot exist are not counted: nobody can fill the table with junk counters.
  const countable = isValidClientId(request.clientId);
  const failures = countable ? await clients.getFailures(request.clientId) : undefined;
  const decision = decideAttempt(failures, now);
  if (!decision.allowed) {
    throw new ClientLockedError(decision.retryAfterSeconds ?? 1);
  }
  if (decision.delayMs > 0) {
    await (dependencies.sleep ?? wait)(decision.delayMs);
  }

  const record = countable ? await clients.get(request.clientId) : undefined;
  const verified = await verifyClientSecret(record, request.clientSecret, now);
  if (!verified || record === undefined) {
    await Promise.all([
      countable ? clients.recordFailure(request.clientId, now) : undefined,
      dependencies.onAuthenticationFailure?.(),
    ]);
    throw invalidClient();
  }
  if (failures !== undefined) {
    await clients.clearFailures(request.clientId);
  }

  const allowed = new Set<string>(record.scopes);
  const scopes = request.scopes ?? record.scopes;
  const refused = scopes.filter((scope) => !allowed.has(scope));
  if (refused.length > 0) {
    throw new OAuthError('invalid_scope', `The client may not hold: ${refused.join(' ')}.`);
  }
  const issued = await issueAccessToken({
    key: await dependencies.keys.activeKey(),
    issuer: dependencies.issuer,
    audience: dependencies.audience,
    clientId: record.clientId,
    scopes,
    now,
  });

  return { ...issued, clientId: record.clientId, scopes };
};
