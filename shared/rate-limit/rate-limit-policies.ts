/**
 * Which limits a request must pass. A policy is a named budget over a window; a check is that
 * policy applied to one subject (an identity, a client id, a source address) at one limit.
 * Policy names are what the `RateLimit-Policy` and `RateLimit` headers show, and the first
 * part of every counter key.
 */
import { ValidationError } from '@shared/errors/gateway-error';
import type { ClientRateLimits } from '@shared/identity/client-registry';
import type { Identity } from '@shared/identity/identity';
import type { RateLimitSettings } from './rate-limit-config';

/** Every policy the gateway applies, with its window; the name is what headers and keys show. */
export const RATE_LIMIT_POLICIES = {
  serviceMinute: { name: 'service-minute', windowSeconds: 60 },
  userMinute: { name: 'user-minute', windowSeconds: 60 },
  burst: { name: 'burst', windowSeconds: 1 },
  tokenClient: { name: 'token-client', windowSeconds: 60 },
  tokenSource: { name: 'token-source', windowSeconds: 60 },
} as const;

export type RateLimitPolicy = (typeof RATE_LIMIT_POLICIES)[keyof typeof RATE_LIMIT_POLICIES];

export type RateLimitPolicyName = RateLimitPolicy['name'];

/** One limit one request must pass. */
export interface LimitCheck {
  readonly policy: RateLimitPolicyName;
  readonly windowSeconds: number;
  /** Whose budget it is: an identity, a client id or a source address. */
  readonly subject: string;
  /** Requests allowed in one window. */
  readonly limit: number;
  /**
   * Also refuse while this many failed authentications are recorded in the same window on the
   * same counter. Only the token endpoint's per-source check has one; it is never sharded.
   */
  readonly failureLimit?: number;
}

const check = (
  policy: RateLimitPolicy,
  subject: string,
  limit: number,
  failureLimit?: number,
): LimitCheck => ({
  policy: policy.name,
  windowSeconds: policy.windowSeconds,
  subject,
  limit,
  ...(failureLimit === undefined ? {} : { failureLimit }),
});

/**
 * The limits of an identified request: the identity's minute limit (per service or per user,
 * a client's own override first), its per-second burst, and, when a service acts for a user,
 * that user's minute limit too, the same counter the user's own requests use.
 */
export const identityLimitChecks = (
  identity: Pick<Identity, 'id' | 'kind'>,
  settings: RateLimitSettings,
  overrides: ClientRateLimits | undefined,
  onBehalfOf: string | undefined,
): LimitCheck[] => {
  const minute =
    identity.kind === 'service'
      ? check(
          RATE_LIMIT_POLICIES.serviceMinute,
          identity.id,
          overrides?.perMinute ?? settings.servicePerMinute,
        )
      : check(RATE_LIMIT_POLICIES.userMinute, identity.id, settings.userPerMinute);
  const checks = [
    minute,
    check(RATE_LIMIT_POLICIES.burst, identity.id, overrides?.perSecond ?? settings.burstPerSecond),
  ];
  if (onBehalfOf !== undefined && identity.kind === 'service') {
    checks.push(check(RATE_LIMIT_POLICIES.userMinute, onBehalfOf, settings.userPerMinute));
  }

  return checks;
};

/**
 * The token endpoint's per-source check, which carries the failure tally of that address; a
 * failed authentication is recorded on the same counter.
 */
export const tokenSourceCheck = (sourceIp: string, settings: RateLimitSettings): LimitCheck =>
  check(
    RATE_LIMIT_POLICIES.tokenSource,
    sourceIp,
    settings.tokenPerSourcePerMinute,
    settings.tokenFailuresPerSourcePerMinute,
  );

/**
 * The token endpoint's limits: per source address always, per client id when the caller names
 * one that could exist, so that made-up ids cannot fill the table with counters.
 */
export const tokenEndpointChecks = (
  request: { readonly clientId: string | undefined; readonly sourceIp: string },
  settings: RateLimitSettings,
): LimitCheck[] => [
  tokenSourceCheck(request.sourceIp, settings),
  ...(request.clientId === undefined
    ? []
    : [check(RATE_LIMIT_POLICIES.tokenClient, request.clientId, settings.tokenPerClientPerMinute)]),
];

/** The header a service names the user it acts for in, until tasks carry `context.user_id`. */
export const ON_BEHALF_OF_HEADER = 'x-on-behalf-of';

/** `user:` and a subject of visible ASCII, as the identity of a user token reads. */
const ON_BEHALF_OF = /^user:[\x21-\x7e]{1,255}$/;

/**
 * The user identity a service says it acts for, to count the request against that user too.
 * Only a service may name one; from a user the header is ignored, so nobody can spend another
 * user's budget in their own name. It grants nothing: it only adds a limit.
 *
 * @throws ValidationError when a service sends the header in any other shape.
 */
export const onBehalfOf = (
  header: string | undefined,
  caller: Pick<Identity, 'kind'>,
): string | undefined => {
  if (header === undefined || caller.kind !== 'service') {
    return undefined;
  }
  const value = header.trim();
  if (!ON_BEHALF_OF.test(value)) {
    throw new ValidationError('X-On-Behalf-Of must name a user identity.', [
      { field: `headers.${ON_BEHALF_OF_HEADER}`, message: 'must be user:<subject>' },
    ]);
  }

  return value;
};
