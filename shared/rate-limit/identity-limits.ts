/**
 * The limits of identified routes: which checks an identity's request must pass, and the
 * fault policy they run under. The HTTP middleware asks this, and only this.
 */
import type { Identity } from '@shared/identity/identity';
import type { ClientOverrides } from './client-overrides';
import type { RateDecision } from './rate-decision';
import type { RateLimitSettings } from './rate-limit-config';
import { FAULT_POLICIES, type RateLimiter } from './rate-limiter';
import { identityLimitChecks } from './rate-limit-policies';

export interface IdentityRateLimits {
  /**
   * Counts one request of `identity`, and of the user it acts for when `onBehalfOf` names one.
   * An unreachable counter admits the request uncounted (and logs it): the counters going
   * down should not take every identified route down with them.
   */
  admit(identity: Identity, onBehalfOf: string | undefined): Promise<RateDecision>;
}

export interface IdentityRateLimitsDependencies {
  readonly limiter: RateLimiter;
  readonly overrides: ClientOverrides;
  readonly settings: RateLimitSettings;
}

/** The identified routes' limits on a limiter, with the registry's overrides and the settings. */
export const createIdentityRateLimits = (
  dependencies: IdentityRateLimitsDependencies,
): IdentityRateLimits => ({
  admit: async (identity, onBehalfOf) => {
    const overrides =
      identity.kind === 'service'
        ? await dependencies.overrides.limitsFor(identity.subject)
        : undefined;
    const checks = identityLimitChecks(identity, dependencies.settings, overrides, onBehalfOf);

    return dependencies.limiter.check(checks, FAULT_POLICIES.admit);
  },
});
