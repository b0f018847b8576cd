import * as crypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { ValidationError } from '@shared/errors/gateway-error';
import {
  DEFAULT_ROTATION_GRACE_SECONDS,
  FAILURE_DELAY_BASE_MS,
  FAILURE_DELAY_MAX_MS,
  FAILURE_WINDOW_SECONDS,
  LOCKOUT_SECONDS,
  MAX_ACTIVE_SECRETS,
  MAX_FAILURES,
  SCRYPT_PARAMETERS,
  SCRYPT_SALT_BYTES,
  SLOWDOWN_FROM_FAILURES,
  decideAttempt,
  generateClientSecret,
  hashClientSecret,
  isValidClientId,
  newClientRecord,
  rotateSecrets,
  stateAfterFailure,
  summarizeClient,
  validateClientSecret,
  validateScopes,
  verifyClientSecret,
  type ClientRecord,
  type FailureState,
} from '@shared/identity/client-registry';
import { SCOPE_NAMES } from '@shared/identity/scopes';

// A pass-through, so that tests can count how many scrypt computations a check costs.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof crypto>();

  return { ...actual, scrypt: vi.fn(actual.scrypt) };
});

const T0 = new Date('2030-01-01T00:00:00.000Z');
const SECOND_MS = 1_000;

const at = (offsetSeconds: number): Date => new Date(T0.getTime() + offsetSeconds * SECOND_MS);

const clientWith = async (secret: string, overrides: Partial<ClientRecord> = {}) => ({
  ...newClientRecord(
    { clientId: 'billing', scopes: ['tasks:read'] },
    await hashClientSecret(secret),
    T0,
  ),
  ...overrides,
});

/** The state after `count` failures, one a second from `startSeconds`. */
const failures = (count: number, startSeconds = 0): FailureState => {
  let state: FailureState | undefined;
  for (let index = 0; index < count; index += 1) {
    state = stateAfterFailure(state, at(startSeconds + index));
  }

  return state as FailureState;
};

describe('client secrets', () => {
  it('generates 256 random bits as base64url, different every time', () => {
    const first = generateClientSecret();
    const second = generateClientSecret();

    expect(first).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(first, 'base64url')).toHaveLength(32);
    expect(second).not.toBe(first);
  });

  it('verifies a secret against its own hash', async () => {
    const secret = generateClientSecret();
    const record = await clientWith(secret);

    await expect(verifyClientSecret(record, secret, T0)).resolves.toBe(true);
  });

  it('refuses a different secret', async () => {
    const record = await clientWith(generateClientSecret());

    await expect(verifyClientSecret(record, generateClientSecret(), T0)).resolves.toBe(false);
  });

  it('refuses a secret that differs in its last character only', async () => {
    const secret = generateClientSecret();
    const record = await clientWith(secret);
    const last = secret.at(-1) === 'A' ? 'B' : 'A';

    await expect(verifyClientSecret(record, `${secret.slice(0, -1)}${last}`, T0)).resolves.toBe(
      false,
    );
  });

  it('embeds its parameters and a random salt, so the same secret hashes differently', async () => {
    const secret = generateClientSecret();

    const first = await hashClientSecret(secret);
    const second = await hashClientSecret(secret);

    const { N, r, p } = SCRYPT_PARAMETERS;
    expect(first.startsWith(`scrypt$${N}$${r}$${p}$`)).toBe(true);
    expect(second).not.toBe(first);
    const [, , , , salt, key] = first.split('$');
    expect(Buffer.from(salt ?? '', 'base64url')).toHaveLength(SCRYPT_SALT_BYTES);
    expect(Buffer.from(key ?? '', 'base64url')).toHaveLength(32);
  });

  it('checks a hash with the parameters it carries, so parameters can change later', async () => {
    const secret = generateClientSecret();
    const cheaper = await hashClientSecret(secret, { N: 1_024, r: 8, p: 1 });
    const record = await clientWith('unused-secret-of-thirty-two-characters', {
      secrets: [{ hash: cheaper, createdAt: T0.toISOString() }],
    });

    expect(cheaper.startsWith('scrypt$1024$8$1$')).toBe(true);
    await expect(verifyClientSecret(record, secret, T0)).resolves.toBe(true);
  });

  it('answers false, without throwing, for a malformed stored hash', async () => {
    const record = await clientWith(generateClientSecret(), {
      secrets: [{ hash: 'scrypt$3$8$1$AAAA$AAAA', createdAt: T0.toISOString() }],
    });

    await expect(verifyClientSecret(record, 'anything', T0)).resolves.toBe(false);
  });

  it('refuses the right secret of a disabled client', async () => {
    const secret = generateClientSecret();
    const record = await clientWith(secret, { status: 'disabled' });

    await expect(verifyClientSecret(record, secret, T0)).resolves.toBe(false);
  });

  it('costs the same scrypt work for unknown, disabled, wrong and right secrets', async () => {
    const secret = generateClientSecret();
    const record = await clientWith(secret);
    const rotated = {
      ...record,
      secrets: rotateSecrets(record.secrets, await hashClientSecret(generateClientSecret()), T0),
    };
    const scrypt = vi.mocked(crypto.scrypt);
    const callsFor = async (check: () => Promise<boolean>): Promise<number> => {
      scrypt.mockClear();
      await check();

      return scrypt.mock.calls.length;
    };

    const counts = [
      await callsFor(() => verifyClientSecret(undefined, secret, T0)),
      await callsFor(() => verifyClientSecret({ ...record, status: 'disabled' }, secret, T0)),
      await callsFor(() => verifyClientSecret(record, generateClientSecret(), T0)),
      await callsFor(() => verifyClientSecret(record, secret, T0)),
      await callsFor(() => verifyClientSecret(rotated, secret, T0)),
      await callsFor(() => verifyClientSecret(record, 'x'.repeat(10_000), T0)),
    ];

    expect(counts).toEqual(Array.from({ length: counts.length }, () => MAX_ACTIVE_SECRETS));
  });

  it('rejects a chosen secret shorter than 32 characters', () => {
    expect(() => validateClientSecret('short')).toThrow(ValidationError);
    expect(validateClientSecret('a'.repeat(32))).toBe('a'.repeat(32));
  });
});

describe('secret rotation', () => {
  it('keeps the old secret valid during the grace period and refuses it after', async () => {
    const oldSecret = generateClientSecret();
    const newSecret = generateClientSecret();
    const record = await clientWith(oldSecret);
    const rotatedAt = at(60);

    const rotated = {
      ...record,
      secrets: rotateSecrets(record.secrets, await hashClientSecret(newSecret), rotatedAt, 3_600),
    };

    await expect(verifyClientSecret(rotated, newSecret, at(60))).resolves.toBe(true);
    await expect(verifyClientSecret(rotated, oldSecret, at(60 + 3_599))).resolves.toBe(true);
    await expect(verifyClientSecret(rotated, oldSecret, at(60 + 3_600))).resolves.toBe(false);
    await expect(verifyClientSecret(rotated, newSecret, at(60 + 3_600))).resolves.toBe(true);
  });

  it('gives the replaced secret 24 hours by default', async () => {
    const record = await clientWith(generateClientSecret());

    const secrets = rotateSecrets(record.secrets, 'scrypt$new', T0);

    expect(DEFAULT_ROTATION_GRACE_SECONDS).toBe(86_400);
    expect(secrets.map((secret) => secret.expiresAt)).toEqual([
      undefined,
      at(86_400).toISOString(),
    ]);
  });

  it('drops the old secrets at once with a grace period of 0', async () => {
    const record = await clientWith(generateClientSecret());

    const secrets = rotateSecrets(record.secrets, 'scrypt$new', T0, 0);

    expect(secrets).toEqual([{ hash: 'scrypt$new', createdAt: T0.toISOString() }]);
  });

  it('ends the older grace early when rotating twice within one', async () => {
    const record = await clientWith(generateClientSecret());
    const once = rotateSecrets(record.secrets, 'scrypt$second', at(10));

    const twice = rotateSecrets(once, 'scrypt$third', at(20));

    expect(twice.map((secret) => secret.hash)).toEqual(['scrypt$third', 'scrypt$second']);
    expect(twice).toHaveLength(MAX_ACTIVE_SECRETS);
  });

  it('does not extend an expiry that comes sooner than the grace period', () => {
    const expiring = {
      hash: 'scrypt$old',
      createdAt: T0.toISOString(),
      expiresAt: at(100).toISOString(),
    };

    const secrets = rotateSecrets([expiring], 'scrypt$new', at(10), 3_600);

    expect(secrets[1]).toEqual(expiring);
  });

  it('refuses a negative or fractional grace period', async () => {
    const record = await clientWith(generateClientSecret());

    expect(() => rotateSecrets(record.secrets, 'h', T0, -1)).toThrow(ValidationError);
    expect(() => rotateSecrets(record.secrets, 'h', T0, 1.5)).toThrow(ValidationError);
  });

  it('summarizes a client without any hash and without expired secrets', async () => {
    const record = await clientWith(generateClientSecret());
    const rotated = { ...record, secrets: rotateSecrets(record.secrets, 'scrypt$new', T0, 60) };

    const during = summarizeClient(rotated, at(30));
    const after = summarizeClient(rotated, at(60));

    expect(JSON.stringify(during)).not.toContain('scrypt$');
    expect(during.secrets).toHaveLength(2);
    expect(after.secrets).toEqual([{ createdAt: T0.toISOString() }]);
  });
});

describe('the lockout policy', () => {
  it('allows the first attempts at once', () => {
    expect(decideAttempt(undefined, T0)).toEqual({ allowed: true, delayMs: 0 });
    expect(decideAttempt(failures(SLOWDOWN_FROM_FAILURES - 1), at(5))).toEqual({
      allowed: true,
      delayMs: 0,
    });
  });

  it('slows down from the third failure, doubling up to the ceiling', () => {
    const delays = [3, 4, 5, 6, 7, 9].map(
      (count) => decideAttempt(failures(count), at(count)).delayMs,
    );

    expect(SLOWDOWN_FROM_FAILURES).toBe(3);
    expect(delays).toEqual([
      FAILURE_DELAY_BASE_MS,
      FAILURE_DELAY_BASE_MS * 2,
      FAILURE_DELAY_BASE_MS * 4,
      FAILURE_DELAY_MAX_MS,
      FAILURE_DELAY_MAX_MS,
      FAILURE_DELAY_MAX_MS,
    ]);
  });

  it('refuses for LOCKOUT_SECONDS after MAX_FAILURES, then allows again', () => {
    const locked = failures(MAX_FAILURES);
    const lastFailure = MAX_FAILURES - 1;

    expect(decideAttempt(locked, at(lastFailure))).toEqual({
      allowed: false,
      delayMs: 0,
      retryAfterSeconds: LOCKOUT_SECONDS,
    });
    expect(decideAttempt(locked, at(lastFailure + LOCKOUT_SECONDS - 1))).toMatchObject({
      allowed: false,
      retryAfterSeconds: 1,
    });
    expect(decideAttempt(locked, at(lastFailure + LOCKOUT_SECONDS))).toEqual({
      allowed: true,
      delayMs: 0,
    });
  });

  it('forgets failures once the window has passed', () => {
    const state = failures(MAX_FAILURES - 1);

    const decision = decideAttempt(state, at(FAILURE_WINDOW_SECONDS));
    const next = stateAfterFailure(state, at(FAILURE_WINDOW_SECONDS));

    expect(decision).toEqual({ allowed: true, delayMs: 0 });
    expect(next).toEqual({
      count: 1,
      windowStartedAtMs: at(FAILURE_WINDOW_SECONDS).getTime(),
      lastFailureAtMs: at(FAILURE_WINDOW_SECONDS).getTime(),
    });
  });

  it('keeps counting within the window', () => {
    const state = failures(4);

    const next = stateAfterFailure(state, at(FAILURE_WINDOW_SECONDS - 1));

    expect(next).toEqual({
      count: 5,
      windowStartedAtMs: T0.getTime(),
      lastFailureAtMs: at(FAILURE_WINDOW_SECONDS - 1).getTime(),
    });
  });

  it('keeps a lockout that outlasts its window', () => {
    // Nine early failures, the tenth just before the window closes: locked well past it.
    const nearlyLocked = failures(MAX_FAILURES - 1);
    const locked = stateAfterFailure(nearlyLocked, at(FAILURE_WINDOW_SECONDS - 10));
    const afterWindow = at(FAILURE_WINDOW_SECONDS + 60);

    expect(decideAttempt(locked, afterWindow).allowed).toBe(false);
    expect(stateAfterFailure(locked, afterWindow).count).toBe(MAX_FAILURES + 1);
  });
});

describe('client validation', () => {
  it.each(['abc', 'svc.billing-1', 'a_b', '0rders', 'a'.repeat(64)])('accepts the id %s', (id) => {
    expect(isValidClientId(id)).toBe(true);
  });

  it.each(['ab', 'Billing', '-lead', '.lead', 'has space', 'svc:x', 'a#b', 'a'.repeat(65), ''])(
    'refuses the id "%s"',
    (id) => {
      expect(isValidClientId(id)).toBe(false);
    },
  );

  it('accepts known scopes and drops repeats', () => {
    expect(validateScopes(['tasks:write', 'tasks:read', 'tasks:write'])).toEqual([
      'tasks:write',
      'tasks:read',
    ]);
  });

  it('refuses tasks:writer, which is not a scope', () => {
    expect(() => validateScopes(['tasks:read', 'tasks:writer'])).toThrow(ValidationError);
    expect(() => validateScopes(['tasks:writer'])).toThrow(/not one the gateway knows/);
  });

  it('builds an active record with one secret and the known scopes', () => {
    const record = newClientRecord(
      {
        clientId: 'billing',
        scopes: SCOPE_NAMES,
        certificateSubjects: [' CN=billing,O=BLUX ', 'CN=billing,O=BLUX'],
        rateLimits: { perMinute: 600 },
      },
      'scrypt$h',
      T0,
    );

    expect(record).toEqual({
      clientId: 'billing',
      scopes: SCOPE_NAMES,
      status: 'active',
      rateLimits: { perMinute: 600 },
      certificateSubjects: ['CN=billing,O=BLUX'],
      secrets: [{ hash: 'scrypt$h', createdAt: T0.toISOString() }],
      createdAt: T0.toISOString(),
      updatedAt: T0.toISOString(),
    });
  });

  it('names every wrong field of a new client at once', () => {
    const attempt = () =>
      newClientRecord(
        {
          clientId: 'X',
          scopes: ['tasks:writer'],
          certificateSubjects: ['  '],
          rateLimits: { perSecond: 0, perMinute: 1.5 },
        },
        'scrypt$h',
        T0,
      );

    expect(attempt).toThrow(ValidationError);
    const fields = (() => {
      try {
        attempt();
      } catch (error) {
        return ((error as ValidationError).details.fields as { field: string }[]).map(
          (issue) => issue.field,
        );
      }

      return [];
    })();
    expect(fields).toEqual([
      'clientId',
      'scopes',
      'certificateSubjects.0',
      'rateLimits.perSecond',
      'rateLimits.perMinute',
    ]);
  });
});
