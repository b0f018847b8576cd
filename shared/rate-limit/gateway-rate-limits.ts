/**
 * The rate-limit services of a running function, built once per process: one limiter (so one
 * memory of spent windows) on the rate-counters table, the identified routes' limits with the
 * client registry's overrides, and the token endpoint's guard.
 */
import { gatewayClientStore } from '@shared/identity/gateway-identity';
import { createClientOverrides } from './client-overrides';
import { defaultRateCounterStore } from './dynamodb-rate-counter-store';
import { createIdentityRateLimits, type IdentityRateLimits } from './identity-limits';
import { rateLimitSettings, type RateLimitSettings } from './rate-limit-config';
import { createRateLimiter, type RateLimiter } from './rate-limiter';
import { createTokenEndpointGuard, type TokenEndpointGuard } from './token-endpoint-guard';

let settings: RateLimitSettings | undefined;
let limiter: RateLimiter | undefined;
let identityLimits: IdentityRateLimits | undefined;
let tokenGuard: TokenEndpointGuard | undefined;

/** The settings from the environment, read on first use. */
export const gatewayRateLimitSettings = (): RateLimitSettings => {
  settings ??= rateLimitSettings();

  return settings;
};

/** The process's one limiter, on the rate-counters table the stack names. */
export const gatewayRateLimiter = (): RateLimiter => {
  limiter ??= createRateLimiter({ store: defaultRateCounterStore() });

  return limiter;
};

/** What the rate-limiting step of identified routes asks. */
export const gatewayIdentityRateLimits = (): IdentityRateLimits => {
  identityLimits ??= createIdentityRateLimits({
    limiter: gatewayRateLimiter(),
    overrides: createClientOverrides(gatewayClientStore()),
    settings: gatewayRateLimitSettings(),
  });

  return identityLimits;
};

/** What `POST /v1/auth/token` asks before and after checking a secret. */
export const gatewayTokenEndpointGuard = (): TokenEndpointGuard => {
  tokenGuard ??= createTokenEndpointGuard({
    limiter: gatewayRateLimiter(),
    settings: gatewayRateLimitSettings(),
  });

  return tokenGuard;
};
