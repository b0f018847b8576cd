import { describe, expect, it } from 'vitest';
import { RateLimitExceededError } from '@shared/errors/gateway-error';
import type { RateDecision } from '@shared/rate-limit/rate-decision';
import { assertAdmitted, rateLimitHeaders } from '@shared/rate-limit/rate-limit-headers';
import type { LimitCheck } from '@shared/rate-limit/rate-limit-policies';

const NOW = Date.UTC(2026, 11, 3, 18, 0, 10, 250);
const MINUTE_RESET = Date.UTC(2026, 11, 3, 18, 1, 0);
const SECOND_RESET = Date.UTC(2026, 11, 3, 18, 0, 11);

const minute: LimitCheck = {
  policy: 'service-minute',
  windowSeconds: 60,
  subject: 'service:billing',
  limit: 1_000,
};
const burst: LimitCheck = {
  policy: 'burst',
  windowSeconds: 1,
  subject: 'service:billing',
  limit: 50,
};
const alice: LimitCheck = {
  policy: 'user-minute',
  windowSeconds: 60,
  subject: 'user:alice',
  limit: 100,
};

const b64 = (text: string): string => Buffer.from(text).toString('base64');

const decision = (statuses: RateDecision['statuses'], admitted = true): RateDecision => ({
  admitted,
  nowMs: NOW,
  statuses,
});

describe('the rate-limit headers', () => {
  it('describe every policy and its state as Structured Field lists, and the closest limit', () => {
    const headers = rateLimitHeaders(
      decision([
        { check: minute, remaining: 958, resetAtMs: MINUTE_RESET },
        { check: burst, remaining: 47, resetAtMs: SECOND_RESET },
      ]),
    );

    expect(headers).toEqual({
      'RateLimit-Policy':
        `"service-minute";q=1000;w=60;pk=:${b64('service:billing')}:, ` +
        `"burst";q=50;w=1;pk=:${b64('service:billing')}:`,
      RateLimit:
        `"service-minute";r=958;t=50;pk=:${b64('service:billing')}:, ` +
        `"burst";r=47;t=1;pk=:${b64('service:billing')}:`,
      'X-RateLimit-Limit': '50',
      'X-RateLimit-Remaining': '47',
      'X-RateLimit-Reset': String(SECOND_RESET / 1_000),
    });
  });

  it('pick, between limits equally close, the one that resets later', () => {
    const headers = rateLimitHeaders(
      decision([
        { check: burst, remaining: 3, resetAtMs: SECOND_RESET },
        { check: alice, remaining: 3, resetAtMs: MINUTE_RESET },
      ]),
    );

    expect(headers['X-RateLimit-Limit']).toBe('100');
    expect(headers['X-RateLimit-Reset']).toBe(String(MINUTE_RESET / 1_000));
  });

  it('list a limit whose counter was not consulted in the policy only', () => {
    const headers = rateLimitHeaders(
      decision([
        { check: minute, remaining: undefined, resetAtMs: MINUTE_RESET },
        { check: burst, remaining: 12, resetAtMs: SECOND_RESET },
      ]),
    );

    expect(headers['RateLimit-Policy']).toContain('"service-minute";q=1000');
    expect(headers.RateLimit).toBe(`"burst";r=12;t=1;pk=:${b64('service:billing')}:`);
    expect(headers['X-RateLimit-Remaining']).toBe('12');
  });

  it('carry no state and no X-RateLimit headers when no counter answered', () => {
    const headers = rateLimitHeaders(
      decision([{ check: minute, remaining: undefined, resetAtMs: MINUTE_RESET }]),
    );

    expect(Object.keys(headers)).toEqual(['RateLimit-Policy']);
  });
});

describe('a refused decision', () => {
  it('throws 429 RATE_LIMIT_EXCEEDED with the limit, reset_in and Retry-After', () => {
    const refused = decision(
      [
        { check: minute, remaining: 0, resetAtMs: MINUTE_RESET, refusedBy: 'requests' },
        { check: burst, remaining: 0, resetAtMs: SECOND_RESET, refusedBy: 'requests' },
      ],
      false,
    );

    const error = (() => {
      try {
        assertAdmitted(refused);
      } catch (thrown) {
        return thrown;
      }
      return undefined;
    })();

    expect(error).toBeInstanceOf(RateLimitExceededError);
    const exceeded = error as RateLimitExceededError;
    expect(exceeded.status).toBe(429);
    expect(exceeded.code).toBe('RATE_LIMIT_EXCEEDED');
    expect(exceeded.details).toEqual({ limit: 1_000, reset_in: 50 });
    expect(exceeded.headers).toMatchObject({
      'Retry-After': '50',
      'X-RateLimit-Remaining': '0',
      'X-RateLimit-Limit': '1000',
    });
  });

  it('names the failure budget when the failure tally refused', () => {
    const source: LimitCheck = {
      policy: 'token-source',
      windowSeconds: 60,
      subject: '198.51.100.7',
      limit: 60,
      failureLimit: 10,
    };

    expect(() =>
      assertAdmitted(
        decision(
          [{ check: source, remaining: 0, resetAtMs: MINUTE_RESET, refusedBy: 'failures' }],
          false,
        ),
      ),
    ).toThrow(expect.objectContaining({ details: { limit: 10, reset_in: 50 } }));
  });

  it('does nothing for an admitted decision', () => {
    expect(() =>
      assertAdmitted(decision([{ check: minute, remaining: 0, resetAtMs: MINUTE_RESET }])),
    ).not.toThrow();
  });
});
