/**
 * The rate limits' numbers, in one place: the defaults below, each overridable through an
 * environment variable, and the API Gateway stage throttle derived from them. Per-client
 * overrides live in the client registry (`ClientRecord.rateLimits`) and win over these.
 *
 * This module imports no SDK and no logger, so the CDK app can read it at synth time.
 */
import { ConfigurationError } from '@shared/config';
import {
  MAX_RATE_LIMIT_PER_MINUTE,
  MAX_RATE_LIMIT_PER_SECOND,
} from '@shared/identity/client-registry';

/** Every number the limiter works with; all are requests per window. */
export interface RateLimitSettings {
  /** A `service:` identity, per minute. */
  readonly servicePerMinute: number;
  /** A `user:` identity, or the user a service names in `X-On-Behalf-Of`, per minute. */
  readonly userPerMinute: number;
  /** Any identity, per second, inside its minute limit. */
  readonly burstPerSecond: number;
  /** `POST /v1/auth/token`, per client id, per minute, counted before the secret is checked. */
  readonly tokenPerClientPerMinute: number;
  /** `POST /v1/auth/token`, per source address, per minute, counted before anything else. */
  readonly tokenPerSourcePerMinute: number;
  /** Failed client authentications per source address, per minute. */
  readonly tokenFailuresPerSourcePerMinute: number;
}

/** The seed's limits, and the token endpoint's stricter ones. */
export const RATE_LIMIT_DEFAULTS = {
  servicePerMinute: 1_000,
  userPerMinute: 100,
  burstPerSecond: 50,
  tokenPerClientPerMinute: 20,
  tokenPerSourcePerMinute: 60,
  tokenFailuresPerSourcePerMinute: 10,
} as const satisfies RateLimitSettings;

/** The variable that overrides each default. */
export const RATE_LIMIT_VARIABLES = {
  servicePerMinute: 'BLUX_RATE_LIMIT_SERVICE_PER_MINUTE',
  userPerMinute: 'BLUX_RATE_LIMIT_USER_PER_MINUTE',
  burstPerSecond: 'BLUX_RATE_LIMIT_BURST_PER_SECOND',
  tokenPerClientPerMinute: 'BLUX_RATE_LIMIT_TOKEN_PER_CLIENT_PER_MINUTE',
  tokenPerSourcePerMinute: 'BLUX_RATE_LIMIT_TOKEN_PER_SOURCE_PER_MINUTE',
  tokenFailuresPerSourcePerMinute: 'BLUX_RATE_LIMIT_TOKEN_FAILURES_PER_SOURCE_PER_MINUTE',
} as const satisfies Record<keyof RateLimitSettings, string>;

/**
 * The token endpoint's limits stay low enough never to be sharded (see `counterShards`): the
 * failure tally rides on the per-source counter, and a split tally would multiply it.
 */
export const MAX_TOKEN_RATE_LIMIT_PER_MINUTE = 10_000;

const MAXIMA = {
  servicePerMinute: MAX_RATE_LIMIT_PER_MINUTE,
  userPerMinute: MAX_RATE_LIMIT_PER_MINUTE,
  burstPerSecond: MAX_RATE_LIMIT_PER_SECOND,
  tokenPerClientPerMinute: MAX_TOKEN_RATE_LIMIT_PER_MINUTE,
  tokenPerSourcePerMinute: MAX_TOKEN_RATE_LIMIT_PER_MINUTE,
  tokenFailuresPerSourcePerMinute: MAX_TOKEN_RATE_LIMIT_PER_MINUTE,
} as const satisfies Record<keyof RateLimitSettings, number>;

const readSetting = (
  env: Readonly<Record<string, string | undefined>>,
  name: keyof RateLimitSettings,
): number => {
  const variable = RATE_LIMIT_VARIABLES[name];
  const raw = env[variable]?.trim();
  if (raw === undefined || raw === '') {
    return RATE_LIMIT_DEFAULTS[name];
  }
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < 1 || value > MAXIMA[name]) {
    throw new ConfigurationError(
      `config.invalidRateLimit: ${variable} must be a whole number from 1 to ${MAXIMA[name]}, ` +
        `got "${raw}"`,
    );
  }

  return value;
};

/**
 * The settings from `env`, each variable left unset falling back to its default.
 *
 * @throws ConfigurationError `config.invalidRateLimit` naming the variable that is not a whole
 *   number in range, so that a typo stops the function instead of lifting a limit.
 */
export const rateLimitSettings = (
  env: Readonly<Record<string, string | undefined>> = process.env,
): RateLimitSettings => {
  const names = Object.keys(RATE_LIMIT_VARIABLES) as (keyof RateLimitSettings)[];

  return Object.fromEntries(
    names.map((name) => [name, readSetting(env, name)]),
  ) as unknown as RateLimitSettings;
};

/** What API Gateway's stage throttle takes, in the words of `infra/stage-config.ts`. */
export interface OuterThrottle {
  readonly rateLimitPerSecond: number;
  readonly burstLimit: number;
}

/** API Gateway's token bucket holds this many seconds of the steady rate. */
export const STAGE_BURST_SECONDS = 2;

/**
 * The stage-wide throttle for a stage sized for `busyIdentities` callers at their full burst at
 * once. It is the outer guard only: it cannot tell callers apart, so it stops a flood before
 * any function runs (health and metrics routes included, which no caller limit counts) and
 * leaves fairness to the per-identity limits. It reads the defaults, not the environment:
 * the stack sets no override variable, so in AWS the functions run on these same numbers.
 */
export const stageThrottleFor = (
  busyIdentities: number,
  settings: RateLimitSettings = RATE_LIMIT_DEFAULTS,
): OuterThrottle => {
  const rateLimitPerSecond = busyIdentities * settings.burstPerSecond;

  return { rateLimitPerSecond, burstLimit: rateLimitPerSecond * STAGE_BURST_SECONDS };
};
