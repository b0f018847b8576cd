/**
 * The client registry: the services allowed to call the gateway as `service:<client_id>`,
 * what each may do, and how each proves who it is. This file is the domain: the record, the
 * rules for ids, scopes and secrets, the lockout policy, and the `ClientStore` interface that
 * an adapter (`dynamodb-client-store.ts`) implements. It imports no SDK.
 *
 * A client secret is shown once, when it is made, and only its scrypt hash is kept. Checking a
 * secret costs the same work whether the client exists, is disabled, or holds the secret, so
 * that neither the answer nor its timing tells an unknown id from a wrong secret.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { ValidationError, type FieldIssue } from '@shared/errors/gateway-error';
import { SCOPE_NAMES, isKnownScope, type Scope } from './scopes';

// ---------------------------------------------------------------------------------------------
// The record

/** A disabled client keeps its record, for the audit trail, but no longer authenticates. */
export const CLIENT_STATUSES = {
  active: 'active',
  disabled: 'disabled',
} as const;

export type ClientStatus = (typeof CLIENT_STATUSES)[keyof typeof CLIENT_STATUSES];

/** Per-client overrides for the rate limiter; a limit left out falls back to the default. */
export interface ClientRateLimits {
  readonly perMinute?: number;
  readonly perSecond?: number;
}

/** One secret a client may present: its hash, never the secret itself. */
export interface ClientSecret {
  /** `scrypt$N$r$p$salt$hash`, from `hashClientSecret`. */
  readonly hash: string;
  /** ISO 8601. */
  readonly createdAt: string;
  /** ISO 8601; absent while the secret is the current one. Set when a rotation replaces it. */
  readonly expiresAt?: string;
}

/** A registered client: everything the gateway knows about a service, except its secret. */
export interface ClientRecord {
  readonly clientId: string;
  readonly scopes: readonly Scope[];
  readonly status: ClientStatus;
  readonly rateLimits?: ClientRateLimits;
  /** Client-certificate subject DNs that authenticate as this client over mTLS. */
  readonly certificateSubjects: readonly string[];
  /** Newest first. */
  readonly secrets: readonly ClientSecret[];
  /** ISO 8601. */
  readonly createdAt: string;
  /** ISO 8601. */
  readonly updatedAt: string;
}

/** What a caller may choose when registering a client; the rest the registry decides. */
export interface NewClientInput {
  readonly clientId: string;
  /** Known scopes only. Default: none, so that a client gets only what is asked for. */
  readonly scopes?: readonly string[];
  readonly certificateSubjects?: readonly string[];
  readonly rateLimits?: ClientRateLimits;
}

/** The settings of an existing client that can change in place. */
export interface ClientChanges {
  readonly scopes?: readonly string[];
  /** `null` removes the overrides. */
  readonly rateLimits?: ClientRateLimits | null;
}

// ---------------------------------------------------------------------------------------------
// Validation

/**
 * A client id: 3 to 64 characters of lower-case letters, digits, `.`, `_` and `-`, starting
 * with a letter or a digit. It appears in identities (`service:<id>`), in table keys and in
 * logs, so it has no upper case (no look-alike duplicates), no spaces and no `:` or `#`.
 */
export const CLIENT_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{2,63}$/;

/** A transaction holds at most 100 items; the profile and its mappings share one. */
export const MAX_CERTIFICATE_SUBJECTS = 10;
/** A partition key holds 2,048 bytes: 500 characters of up to 4 bytes, after `cert#`. */
export const MAX_CERTIFICATE_SUBJECT_LENGTH = 500;
/** Far above any real need; it only keeps a typo from becoming an unbounded limit. */
export const MAX_RATE_LIMIT_PER_SECOND = 100_000;
export const MAX_RATE_LIMIT_PER_MINUTE = 6_000_000;

/** Whether `value` matches `CLIENT_ID_PATTERN`. */
export const isValidClientId = (value: string): boolean => CLIENT_ID_PATTERN.test(value);

const clientIdIssues = (field: string, value: string): FieldIssue[] =>
  isValidClientId(value)
    ? []
    : [
        {
          field,
          message:
            'must be 3 to 64 characters of a-z, 0-9, ".", "_" or "-", starting with a-z or 0-9',
        },
      ];

const scopeIssues = (field: string, scopes: readonly string[]): FieldIssue[] => {
  const unknown = scopes.filter((scope) => !isKnownScope(scope));
  if (unknown.length === 0) {
    return [];
  }

  const named = unknown.map((scope) => `"${scope}"`).join(', ');

  return [{ field, message: `unknown scope ${named}; known: ${SCOPE_NAMES.join(' ')}` }];
};

const certificateSubjectIssues = (field: string, subjects: readonly string[]): FieldIssue[] => {
  const issues: FieldIssue[] = [];
  if (subjects.length > MAX_CERTIFICATE_SUBJECTS) {
    issues.push({ field, message: `at most ${MAX_CERTIFICATE_SUBJECTS} subjects per client` });
  }
  subjects.forEach((subject, index) => {
    if (subject.trim() === '' || subject.length > MAX_CERTIFICATE_SUBJECT_LENGTH) {
      issues.push({
        field: `${field}.${index}`,
        message: `must be a non-empty DN of at most ${MAX_CERTIFICATE_SUBJECT_LENGTH} characters`,
      });
    }
  });

  return issues;
};

const rateLimitIssues = (field: string, limits: ClientRateLimits | undefined): FieldIssue[] => {
  const checks = [
    ['perSecond', limits?.perSecond, MAX_RATE_LIMIT_PER_SECOND],
    ['perMinute', limits?.perMinute, MAX_RATE_LIMIT_PER_MINUTE],
  ] as const;

  return checks
    .filter(([, value, max]) => value !== undefined && !isWholeNumberIn(value, 1, max))
    .map(([name, , max]) => ({
      field: `${field}.${name}`,
      message: `must be a whole number from 1 to ${max}`,
    }));
};

const isWholeNumberIn = (value: number, min: number, max: number): boolean =>
  Number.isInteger(value) && value >= min && value <= max;

const throwOnIssues = (issues: readonly FieldIssue[], message: string): void => {
  if (issues.length > 0) {
    throw new ValidationError(message, issues);
  }
};

/** Returns the id, or throws `VALIDATION_FAILED` saying what a client id looks like. */
export const validateClientId = (value: string): string => {
  throwOnIssues(clientIdIssues('clientId', value), `"${value}" is not a valid client id.`);

  return value;
};

/** Returns the scopes without repeats, or throws `VALIDATION_FAILED` naming the unknown ones. */
export const validateScopes = (scopes: readonly string[]): Scope[] => {
  throwOnIssues(scopeIssues('scopes', scopes), 'A scope is not one the gateway knows.');

  return [...new Set(scopes)].filter(isKnownScope);
};

/** DNs are kept as the mTLS layer reports them: trimmed, but otherwise compared exactly. */
const normalizeSubjects = (subjects: readonly string[]): string[] => [
  ...new Set(subjects.map((subject) => subject.trim())),
];

const normalizeRateLimits = (
  limits: ClientRateLimits | undefined,
): ClientRateLimits | undefined => {
  if (limits?.perMinute === undefined && limits?.perSecond === undefined) {
    return undefined;
  }

  return {
    ...(limits.perMinute === undefined ? {} : { perMinute: limits.perMinute }),
    ...(limits.perSecond === undefined ? {} : { perSecond: limits.perSecond }),
  };
};

/**
 * Builds the record of a new, active client holding one secret, or throws `VALIDATION_FAILED`
 * listing every field that is wrong.
 */
export const newClientRecord = (
  input: NewClientInput,
  secretHash: string,
  now: Date,
): ClientRecord => {
  const scopes = input.scopes ?? [];
  const subjects = input.certificateSubjects ?? [];
  throwOnIssues(
    [
      ...clientIdIssues('clientId', input.clientId),
      ...scopeIssues('scopes', scopes),
      ...certificateSubjectIssues('certificateSubjects', subjects),
      ...rateLimitIssues('rateLimits', input.rateLimits),
    ],
    'The client is invalid.',
  );

  const createdAt = now.toISOString();
  const rateLimits = normalizeRateLimits(input.rateLimits);

  return {
    clientId: input.clientId,
    scopes: validateScopes(scopes),
    status: CLIENT_STATUSES.active,
    ...(rateLimits === undefined ? {} : { rateLimits }),
    certificateSubjects: normalizeSubjects(subjects),
    secrets: [{ hash: secretHash, createdAt }],
    createdAt,
    updatedAt: createdAt,
  };
};

/** Validates changes to a client and returns them with scopes de-duplicated. */
export const validateClientChanges = (changes: ClientChanges): ClientChanges => {
  throwOnIssues(
    [
      ...scopeIssues('scopes', changes.scopes ?? []),
      ...rateLimitIssues('rateLimits', changes.rateLimits ?? undefined),
    ],
    'The client changes are invalid.',
  );

  return {
    ...(changes.scopes === undefined ? {} : { scopes: validateScopes(changes.scopes) }),
    ...(changes.rateLimits === undefined
      ? {}
      : { rateLimits: normalizeRateLimits(changes.rateLimits ?? undefined) ?? null }),
  };
};

// ---------------------------------------------------------------------------------------------
// Secrets

/** 256 bits: guessing is hopeless, so the lockout below only has to stop noise, not search. */
export const CLIENT_SECRET_BYTES = 32;
/** For secrets chosen by a person (`BLUX_CLIENT_SECRET`): a short one could be guessed. */
export const MIN_CLIENT_SECRET_LENGTH = 32;
/** Bounds the work an attacker can make one check cost. */
export const MAX_CLIENT_SECRET_LENGTH = 256;

/**
 * scrypt's cost (N), block size (r) and parallelization (p). N = 2^14 with r = 8 takes 16 MiB
 * and tens of milliseconds per hash. The secrets are random, so the hash mostly protects a
 * leaked table from a person-chosen secret; a higher N would tax every token request for little.
 * Each hash carries its own parameters, so raising them later leaves stored hashes valid.
 */
export const SCRYPT_PARAMETERS = { N: 16_384, r: 8, p: 1 } as const;
export const SCRYPT_SALT_BYTES = 16;
export const SCRYPT_KEY_BYTES = 32;

/** Refuses stored parameters that would let a corrupt item exhaust memory or time. */
const MAX_SCRYPT_N = 1_048_576;
const MAX_SCRYPT_R = 32;
const MAX_SCRYPT_P = 16;
const MAX_SCRYPT_KEY_BYTES = 64;

/** What `hashClientSecret` and the encoded hash carry: scrypt's N, r and p. */
export interface ScryptParameters {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

const HASH_SCHEME = 'scrypt';

interface DecodedHash {
  readonly parameters: ScryptParameters;
  readonly salt: Buffer;
  readonly key: Buffer;
}

const encodeHash = (parameters: ScryptParameters, salt: Buffer, key: Buffer): string =>
  [
    HASH_SCHEME,
    parameters.N,
    parameters.r,
    parameters.p,
    salt.toString('base64url'),
    key.toString('base64url'),
  ].join('$');

const isPowerOfTwo = (value: number): boolean => value > 1 && (value & (value - 1)) === 0;

const decodeHash = (encoded: string): DecodedHash | undefined => {
  const [scheme, n, r, p, salt, key, ...rest] = encoded.split('$');
  if (scheme !== HASH_SCHEME || rest.length > 0 || salt === undefined || key === undefined) {
    return undefined;
  }
  const parameters = { N: Number(n), r: Number(r), p: Number(p) };
  const sane =
    isPowerOfTwo(parameters.N) &&
    parameters.N <= MAX_SCRYPT_N &&
    isWholeNumberIn(parameters.r, 1, MAX_SCRYPT_R) &&
    isWholeNumberIn(parameters.p, 1, MAX_SCRYPT_P);
  const decoded = {
    parameters,
    salt: Buffer.from(salt, 'base64url'),
    key: Buffer.from(key, 'base64url'),
  };

  const sized =
    decoded.salt.length > 0 && decoded.key.length > 0 && decoded.key.length <= MAX_SCRYPT_KEY_BYTES;

  return sane && sized ? decoded : undefined;
};

const deriveKey = (
  secret: string,
  salt: Buffer,
  keyBytes: number,
  parameters: ScryptParameters,
): Promise<Buffer> => {
  // Node refuses scrypt above `maxmem`; the need is about 128 * N * r bytes, so allow twice.
  const options: ScryptOptions = { ...parameters, maxmem: 256 * parameters.N * parameters.r };

  return new Promise((resolve, reject) => {
    scrypt(secret, salt, keyBytes, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
};

const DUMMY: DecodedHash = {
  parameters: SCRYPT_PARAMETERS,
  salt: Buffer.alloc(SCRYPT_SALT_BYTES, 0x5a),
  key: Buffer.alloc(SCRYPT_KEY_BYTES, 0xa5),
};

/**
 * A hash with the current parameters that no secret is checked against for real: verifying
 * against it costs what a real check costs, and its answer is thrown away. Callers use it to
 * burn the same work for an unknown client as for a known one.
 */
export const DUMMY_HASH = encodeHash(DUMMY.parameters, DUMMY.salt, DUMMY.key);

/** A new client secret: 256 random bits, base64url, shown to the operator once. */
export const generateClientSecret = (): string =>
  randomBytes(CLIENT_SECRET_BYTES).toString('base64url');

/** Returns the secret, or throws `VALIDATION_FAILED` when it is too short or too long to use. */
export const validateClientSecret = (secret: string): string => {
  const length = `${MIN_CLIENT_SECRET_LENGTH} to ${MAX_CLIENT_SECRET_LENGTH} characters`;
  const fits =
    secret.length >= MIN_CLIENT_SECRET_LENGTH && secret.length <= MAX_CLIENT_SECRET_LENGTH;

  throwOnIssues(
    fits ? [] : [{ field: 'secret', message: `must be ${length}` }],
    'The client secret is unusable.',
  );

  return secret;
};

/** Hashes a secret with scrypt and a fresh random salt: `scrypt$N$r$p$salt$hash`. */
export const hashClientSecret = async (
  secret: string,
  parameters: ScryptParameters = SCRYPT_PARAMETERS,
): Promise<string> => {
  const salt = randomBytes(SCRYPT_SALT_BYTES);
  const key = await deriveKey(secret, salt, SCRYPT_KEY_BYTES, parameters);

  return encodeHash(parameters, salt, key);
};

/**
 * Whether `secret` hashes to `encoded`. A malformed hash, or `DUMMY_HASH`, costs the same work
 * against the dummy and answers false; it never throws.
 */
const matchesHash = async (secret: string, encoded: string): Promise<boolean> => {
  const stored = encoded === DUMMY_HASH ? undefined : decodeHash(encoded);
  const target = stored ?? DUMMY;

  const key = await deriveKey(secret, target.salt, target.key.length, target.parameters);
  const equal = timingSafeEqual(key, target.key);

  return stored !== undefined && equal;
};

const epochMs = (iso: string | undefined): number =>
  iso === undefined ? Number.POSITIVE_INFINITY : Date.parse(iso);

/** Whether a secret has passed its expiry; a secret without one has not. */
export const isSecretExpired = (secret: ClientSecret, now: Date): boolean =>
  epochMs(secret.expiresAt) <= now.getTime();

/**
 * The most secrets a client holds at once: the current one and the one it replaced, still
 * valid for its grace period. A check always does this many hashes, so it costs the same for
 * every client, known or not.
 */
export const MAX_ACTIVE_SECRETS = 2;

/**
 * Whether `secret` is one of the client's unexpired secrets. False for an unknown (`undefined`)
 * or disabled client, after the same work as a real check: `MAX_ACTIVE_SECRETS` scrypt
 * computations, padded with `DUMMY_HASH`, each result compared in constant time and none of
 * them cut short. The caller must not answer faster for an unknown id in any other way.
 */
export const verifyClientSecret = async (
  record: ClientRecord | undefined,
  secret: string,
  now: Date,
): Promise<boolean> => {
  const usable = record?.status === CLIENT_STATUSES.active;
  const candidates = (record?.secrets ?? [])
    .filter((stored) => !isSecretExpired(stored, now))
    .map((stored) => stored.hash)
    .slice(0, MAX_ACTIVE_SECRETS);
  const slots = [
    ...candidates,
    ...Array.from({ length: MAX_ACTIVE_SECRETS - candidates.length }, () => DUMMY_HASH),
  ];
  // An oversized secret is still hashed (truncated) so that its answer takes as long.
  const presented = secret.slice(0, MAX_CLIENT_SECRET_LENGTH);

  const matches = await Promise.all(slots.map((hash) => matchesHash(presented, hash)));

  return usable && secret.length <= MAX_CLIENT_SECRET_LENGTH && matches.includes(true);
};

// ---------------------------------------------------------------------------------------------
// Rotation

/** How long the replaced secret keeps working after a rotation, unless the rotation says. */
export const DEFAULT_ROTATION_GRACE_SECONDS = 24 * 60 * 60;
export const MAX_ROTATION_GRACE_SECONDS = 30 * 24 * 60 * 60;

/** Returns the grace period, or throws `VALIDATION_FAILED` when it is out of range. */
export const validateGraceSeconds = (graceSeconds: number): number => {
  throwOnIssues(
    isWholeNumberIn(graceSeconds, 0, MAX_ROTATION_GRACE_SECONDS)
      ? []
      : [
          {
            field: 'graceSeconds',
            message: `must be a whole number from 0 to ${MAX_ROTATION_GRACE_SECONDS}`,
          },
        ],
    'The rotation grace period is invalid.',
  );

  return graceSeconds;
};

/**
 * The secrets after a rotation: the new one first, then the ones that still worked, each now
 * expiring at the end of the grace period at the latest. Expired secrets are dropped, and so
 * are the oldest beyond `MAX_ACTIVE_SECRETS`: rotating twice within a grace period ends the
 * older grace early, which keeps every check at a fixed cost.
 */
export const rotateSecrets = (
  secrets: readonly ClientSecret[],
  newHash: string,
  now: Date,
  graceSeconds: number = DEFAULT_ROTATION_GRACE_SECONDS,
): ClientSecret[] => {
  const graceEndsMs = now.getTime() + validateGraceSeconds(graceSeconds) * 1_000;
  const kept = secrets
    .filter((secret) => !isSecretExpired(secret, now))
    .map((secret) => ({
      ...secret,
      expiresAt: new Date(Math.min(epochMs(secret.expiresAt), graceEndsMs)).toISOString(),
    }))
    .filter((secret) => !isSecretExpired(secret, now))
    .sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt));

  return [{ hash: newHash, createdAt: now.toISOString() }, ...kept].slice(0, MAX_ACTIVE_SECRETS);
};

/** A record as an operator may see it: how many secrets and until when, never a hash. */
export interface ClientSummary extends Omit<ClientRecord, 'secrets'> {
  readonly secrets: readonly Omit<ClientSecret, 'hash'>[];
}

/** The record without hashes and without expired secrets, for listings. */
export const summarizeClient = (record: ClientRecord, now: Date): ClientSummary => ({
  ...record,
  secrets: record.secrets
    .filter((secret) => !isSecretExpired(secret, now))
    .map(({ createdAt, expiresAt }) => ({
      createdAt,
      ...(expiresAt === undefined ? {} : { expiresAt }),
    })),
});

// ---------------------------------------------------------------------------------------------
// Lockout

/**
 * Failed secret checks per client id. Failures are counted in a window that opens with the
 * first failure; from the `SLOWDOWN_FROM_FAILURES`th the gateway waits before answering, each
 * time twice as long up to a ceiling; at `MAX_FAILURES` it refuses to check at all for
 * `LOCKOUT_SECONDS`. A success clears the count.
 *
 * Unknown ids are counted too: if only real clients could be locked out, the lockout itself
 * would reveal which ids exist. The price is that anyone who knows an id can lock that client
 * out for a while; the secrets are random enough that the slow-down alone would stop guessing,
 * so the lockout is kept short.
 */
export const FAILURE_WINDOW_SECONDS = 15 * 60;
export const SLOWDOWN_FROM_FAILURES = 3;
export const FAILURE_DELAY_BASE_MS = 250;
/** Kept well inside a function's time so that a slowed answer never becomes a timeout. */
export const FAILURE_DELAY_MAX_MS = 2_000;
export const MAX_FAILURES = 10;
export const LOCKOUT_SECONDS = 15 * 60;
/** How long a failure record may linger before TTL removes it; correctness never needs TTL. */
export const FAILURE_RECORD_TTL_SECONDS = Math.max(FAILURE_WINDOW_SECONDS, LOCKOUT_SECONDS) + 60;

/** The failed checks recorded for one client id. */
export interface FailureState {
  readonly count: number;
  /** Epoch milliseconds of the failure that opened the window. */
  readonly windowStartedAtMs: number;
  /** Epoch milliseconds of the latest failure; a lockout runs from here. */
  readonly lastFailureAtMs: number;
}

/** What `decideAttempt` tells the caller to do before checking a secret. */
export interface AttemptDecision {
  /** False while locked out: answer at once, without checking the secret. */
  readonly allowed: boolean;
  /** How long to wait before answering, whatever the answer, so that guessing stays slow. */
  readonly delayMs: number;
  /** Set when refused: when the lockout ends. */
  readonly retryAfterSeconds?: number;
}

const isWindowOpen = (state: FailureState, nowMs: number): boolean =>
  nowMs < state.windowStartedAtMs + FAILURE_WINDOW_SECONDS * 1_000;

const lockoutEndsMs = (state: FailureState): number | undefined =>
  state.count >= MAX_FAILURES ? state.lastFailureAtMs + LOCKOUT_SECONDS * 1_000 : undefined;

const isLockedOut = (state: FailureState, nowMs: number): boolean =>
  nowMs < (lockoutEndsMs(state) ?? Number.NEGATIVE_INFINITY);

/**
 * Whether a failure at `now` adds to `state` rather than opening a new window: while the window
 * is open, and also while locked out, so that a lockout outlasting its window is not undone.
 */
export const failureContinues = (state: FailureState, now: Date): boolean =>
  isWindowOpen(state, now.getTime()) || isLockedOut(state, now.getTime());

/** The wait before answering after `count` failures in the window: 0, then doubling, capped. */
export const failureDelayMs = (count: number): number =>
  count < SLOWDOWN_FROM_FAILURES
    ? 0
    : Math.min(FAILURE_DELAY_BASE_MS * 2 ** (count - SLOWDOWN_FROM_FAILURES), FAILURE_DELAY_MAX_MS);

/** What to do with an attempt to authenticate as a client, given its recorded failures. */
export const decideAttempt = (state: FailureState | undefined, now: Date): AttemptDecision => {
  const nowMs = now.getTime();
  if (state === undefined) {
    return { allowed: true, delayMs: 0 };
  }
  const endsMs = lockoutEndsMs(state);
  if (endsMs !== undefined && nowMs < endsMs) {
    return { allowed: false, delayMs: 0, retryAfterSeconds: Math.ceil((endsMs - nowMs) / 1_000) };
  }

  return { allowed: true, delayMs: isWindowOpen(state, nowMs) ? failureDelayMs(state.count) : 0 };
};

/**
 * The state after one more failure at `now`. After a success the state is gone (the store's
 * `clearFailures`). The DynamoDB store applies this same rule in one atomic update.
 */
export const stateAfterFailure = (state: FailureState | undefined, now: Date): FailureState => {
  const nowMs = now.getTime();
  if (state === undefined || !failureContinues(state, now)) {
    return { count: 1, windowStartedAtMs: nowMs, lastFailureAtMs: nowMs };
  }

  return { ...state, count: state.count + 1, lastFailureAtMs: nowMs };
};

// ---------------------------------------------------------------------------------------------
// The store

/** Page sizes of `ClientStore.list`, in clients. */
export const DEFAULT_LIST_LIMIT = 50;
export const MAX_LIST_LIMIT = 100;

/** Which page of clients `ClientStore.list` returns. */
export interface ListClientsOptions {
  /** At most this many clients. Default `DEFAULT_LIST_LIMIT`, at most `MAX_LIST_LIMIT`. */
  readonly limit?: number;
  /** From `ClientPage.cursor` of the previous page. */
  readonly cursor?: string;
}

/** One page of clients, in no particular order. */
export interface ClientPage {
  readonly clients: readonly ClientRecord[];
  /** Present when there may be more clients; pass it back for the next page. */
  readonly cursor?: string;
}

/** When a rotation happens and how long the replaced secret keeps working. */
export interface RotationOptions {
  readonly now: Date;
  /** Default `DEFAULT_ROTATION_GRACE_SECONDS`. */
  readonly graceSeconds?: number;
}

/** Where client records live. Every read that decides on access is strongly consistent. */
export interface ClientStore {
  get(clientId: string): Promise<ClientRecord | undefined>;
  /** Stores a record from `newClientRecord`; `ConflictError` when the id or a subject is taken. */
  create(record: ClientRecord): Promise<void>;
  list(options?: ListClientsOptions): Promise<ClientPage>;
  /** Adds a secret per `rotateSecrets`; `NotFoundError` for an unknown id. */
  rotateSecret(
    clientId: string,
    secretHash: string,
    options: RotationOptions,
  ): Promise<ClientRecord>;
  /** Changes scopes or rate limits; `NotFoundError` for an unknown id. */
  update(clientId: string, changes: ClientChanges, now: Date): Promise<ClientRecord>;
  /** Marks the client disabled; its secrets and certificates stop working. */
  disable(clientId: string, now: Date): Promise<ClientRecord>;
  findByCertificateSubject(subject: string): Promise<ClientRecord | undefined>;
  /** Counts one failure atomically (see `stateAfterFailure`), for any id, known or not. */
  recordFailure(clientId: string, now: Date): Promise<FailureState>;
  clearFailures(clientId: string): Promise<void>;
  getFailures(clientId: string): Promise<FailureState | undefined>;
}

// ---------------------------------------------------------------------------------------------
// Operations shared by the CLI and the local bootstrap

/** A client together with a secret just made for it. */
export interface IssuedSecret {
  readonly record: ClientRecord;
  /** The secret in clear: show it once, keep it nowhere. */
  readonly secret: string;
}

/** How `registerClient` and `rotateClientSecret` make the secret. */
export interface SecretOptions {
  /** A secret chosen by the caller instead of a generated one. */
  readonly secret?: string;
  readonly now?: Date;
}

/** Registers a client with a new secret (generated unless given) and returns both. */
export const registerClient = async (
  store: Pick<ClientStore, 'create'>,
  input: NewClientInput,
  options: SecretOptions = {},
): Promise<IssuedSecret> => {
  const secret = validateClientSecret(options.secret ?? generateClientSecret());
  const record = newClientRecord(input, await hashClientSecret(secret), options.now ?? new Date());

  await store.create(record);

  return { record, secret };
};

/** Gives a client a new secret; the old ones stay valid for `graceSeconds`. */
export const rotateClientSecret = async (
  store: Pick<ClientStore, 'rotateSecret'>,
  clientId: string,
  options: SecretOptions & { readonly graceSeconds?: number } = {},
): Promise<IssuedSecret> => {
  const graceSeconds = validateGraceSeconds(options.graceSeconds ?? DEFAULT_ROTATION_GRACE_SECONDS);
  const secret = validateClientSecret(options.secret ?? generateClientSecret());
  const hash = await hashClientSecret(secret);

  const record = await store.rotateSecret(clientId, hash, {
    now: options.now ?? new Date(),
    graceSeconds,
  });

  return { record, secret };
};
