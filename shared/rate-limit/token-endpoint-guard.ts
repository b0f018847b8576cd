/**
 * The token endpoint's own limits, stricter than those of identified routes because every
 * request there costs a secret check (scrypt) and could be a guess. A request is counted per
 * source address and per client id before its secret is checked; a failed check is also
 * recorded against the source address, and an address with too many failures in the window
 * is refused before anything else is done.
 *
 * The source address is API Gateway's `sourceIp`, the peer of the TCP connection, which a
 * client cannot choose; `X-Forwarded-For` is never read.
 */
import { isValidClientId } from '@shared/identity/client-registry';
import type { RateDecision } from './rate-decision';
import type { RateLimitSettings } from './rate-limit-config';
import { assertAdmitted } from './rate-limit-headers';
import { FAULT_POLICIES, type RateLimiter } from './rate-limiter';
import { tokenEndpointChecks, tokenSourceCheck } from './rate-limit-policies';

export interface TokenRequestOrigin {
  /** The client id the request names, well-formed or not. */
  readonly clientId: string;
  readonly sourceIp: string;
}

export interface TokenEndpointGuard {
  /**
   * Counts a token request and answers the decision when admitted.
   *
   * @throws RateLimitExceededError when a limit, or the failure tally, is spent.
   * @throws ServiceUnavailableError when the counters are unreachable: an uncounted token
   *   request is an unbounded guess, so this endpoint refuses rather than admits.
   */
  admit(origin: TokenRequestOrigin): Promise<RateDecision>;
  /** Records a failed client authentication from `sourceIp`; never fails the request. */
  recordFailure(sourceIp: string): Promise<void>;
}

/** The token endpoint's guard on a limiter, with the settings' token limits. */
export const createTokenEndpointGuard = (dependencies: {
  readonly limiter: RateLimiter;
  readonly settings: RateLimitSettings;
}): TokenEndpointGuard => ({
  admit: async (origin) => {
    const clientId = isValidClientId(origin.clientId) ? origin.clientId : undefined;
    const checks = tokenEndpointChecks(
      { clientId, sourceIp: origin.sourceIp },
      dependencies.settings,
    );
    const decision = await dependencies.limiter.check(checks, FAULT_POLICIES.refuse);
    assertAdmitted(decision);

    return decision;
  },

  recordFailure: (sourceIp) =>
    dependencies.limiter.recordFailure(tokenSourceCheck(sourceIp, dependencies.settings)),
});
