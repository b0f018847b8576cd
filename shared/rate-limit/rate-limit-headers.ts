/**
 * How a rate decision is told to the caller. Two vocabularies, both on every response to an
 * identified caller:
 *
 * - `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (epoch seconds), the
 *   de facto headers most client libraries read, for the one limit closest to running out;
 * - `RateLimit-Policy` and `RateLimit` of draft-ietf-httpapi-ratelimit-headers, as Structured
 *   Field lists (RFC 9651) with one item per limit: the policy's name as a String, with `q`
 *   (quota), `w` (window seconds) and `pk` (the partition key, the counted subject as a Byte
 *   Sequence); the current state with `r` (remaining) and `t` (seconds until reset).
 *
 * A limit whose counter could not be consulted is listed in `RateLimit-Policy` only.
 */
import { RateLimitExceededError } from '@shared/errors/gateway-error';
import { secondsUntil } from './fixed-window';
import {
  closestToRunningOut,
  refusingStatus,
  statusLimit,
  type LimitStatus,
  type RateDecision,
} from './rate-decision';

/** The names of the headers this module sets. */
export const RATE_LIMIT_HEADERS = {
  limit: 'X-RateLimit-Limit',
  remaining: 'X-RateLimit-Remaining',
  reset: 'X-RateLimit-Reset',
  policy: 'RateLimit-Policy',
  state: 'RateLimit',
} as const;

/** An sf-string: quoted, with `\` and `"` escaped; policy names are plain ASCII already. */
const sfString = (value: string): string => `"${value.replace(/[\\"]/g, (char) => `\\${char}`)}"`;

/** An sf-binary: the UTF-8 bytes in base64 between colons. */
const sfBytes = (value: string): string => `:${Buffer.from(value, 'utf8').toString('base64')}:`;

const policyItem = (status: LimitStatus): string => {
  const { check } = status;

  return (
    `${sfString(check.policy)};q=${check.limit};w=${check.windowSeconds};` +
    `pk=${sfBytes(check.subject)}`
  );
};

const stateItem = (status: LimitStatus, remaining: number, nowMs: number): string =>
  `${sfString(status.check.policy)};r=${remaining};t=${secondsUntil(status.resetAtMs, nowMs)};` +
  `pk=${sfBytes(status.check.subject)}`;

/** The rate-limit headers of a response, from the decision that admitted or refused it. */
export const rateLimitHeaders = (decision: RateDecision): Record<string, string> => {
  const headers: Record<string, string> = {};
  if (decision.statuses.length === 0) {
    return headers;
  }
  headers[RATE_LIMIT_HEADERS.policy] = decision.statuses.map(policyItem).join(', ');
  const states = decision.statuses.flatMap((status) =>
    status.remaining === undefined ? [] : [stateItem(status, status.remaining, decision.nowMs)],
  );
  if (states.length > 0) {
    headers[RATE_LIMIT_HEADERS.state] = states.join(', ');
  }
  const closest = closestToRunningOut(decision);
  if (closest !== undefined) {
    headers[RATE_LIMIT_HEADERS.limit] = String(statusLimit(closest));
    headers[RATE_LIMIT_HEADERS.remaining] = String(closest.remaining);
    headers[RATE_LIMIT_HEADERS.reset] = String(Math.ceil(closest.resetAtMs / 1_000));
  }

  return headers;
};

/**
 * Throws the 429 for a refused decision: `details` and `Retry-After` from the limit that
 * resets last, the rate-limit headers from the whole decision.
 */
export const assertAdmitted = (decision: RateDecision): void => {
  const refusing = refusingStatus(decision);
  if (decision.admitted || refusing === undefined) {
    return;
  }

  throw new RateLimitExceededError(
    statusLimit(refusing),
    secondsUntil(refusing.resetAtMs, decision.nowMs),
    rateLimitHeaders(decision),
  );
};
