import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '@shared/config';
import { STAGE_CONFIG, STAGES } from '@infra/stage-config';
import {
  RATE_LIMIT_DEFAULTS,
  RATE_LIMIT_VARIABLES,
  rateLimitSettings,
  stageThrottleFor,
} from '@shared/rate-limit/rate-limit-config';

describe('the rate-limit configuration', () => {
  it('holds the seed limits by default', () => {
    expect(rateLimitSettings({})).toEqual({
      servicePerMinute: 1_000,
      userPerMinute: 100,
      burstPerSecond: 50,
      tokenPerClientPerMinute: 20,
      tokenPerSourcePerMinute: 60,
      tokenFailuresPerSourcePerMinute: 10,
    });
  });

  it('takes each limit from its variable when set', () => {
    const settings = rateLimitSettings({
      BLUX_RATE_LIMIT_USER_PER_MINUTE: '30',
      BLUX_RATE_LIMIT_BURST_PER_SECOND: ' 5 ',
    });

    expect(settings).toEqual({ ...RATE_LIMIT_DEFAULTS, userPerMinute: 30, burstPerSecond: 5 });
  });

  it.each(['0', '-3', '2.5', 'ten', '6000001'])(
    'refuses %s for a limit, naming the variable',
    (value) => {
      const read = () => rateLimitSettings({ [RATE_LIMIT_VARIABLES.userPerMinute]: value });

      expect(read).toThrow(ConfigurationError);
      expect(read).toThrow(/config\.invalidRateLimit: BLUX_RATE_LIMIT_USER_PER_MINUTE/);
    },
  );

  it('keeps the token endpoint limits low enough never to be sharded', () => {
    const read = () =>
      rateLimitSettings({ [RATE_LIMIT_VARIABLES.tokenPerSourcePerMinute]: '10001' });

    expect(read).toThrow(/from 1 to 10000/);
  });
});

describe('the stage throttle', () => {
  it('is the steady burst rate of the busy identities, with a two-second bucket', () => {
    expect(stageThrottleFor(1)).toEqual({ rateLimitPerSecond: 50, burstLimit: 100 });
    expect(stageThrottleFor(10)).toEqual({ rateLimitPerSecond: 500, burstLimit: 1_000 });
  });

  it.each(STAGES)('of %s comes from the rate-limit defaults', (stage) => {
    const { rateLimitPerSecond, burstLimit } = STAGE_CONFIG[stage].throttle;
    const identities = rateLimitPerSecond / RATE_LIMIT_DEFAULTS.burstPerSecond;

    expect(Number.isInteger(identities)).toBe(true);
    expect({ rateLimitPerSecond, burstLimit }).toEqual(stageThrottleFor(identities));
  });
});
