/**
 * The first client of a local gateway, so that `npm start` can be used at once:
 *
 *   BLUX_CLIENT_ID      the client to make sure of; without it, `local-dev` when no client exists
 *   BLUX_CLIENT_SECRET  its secret (at least 32 characters); generated when the client is new
 *   BLUX_CLIENT_SCOPES  space-separated scopes; default: every scope the gateway knows
 *
 * Running it again with the same variables changes nothing, so a persisted data folder keeps
 * its client across restarts; changed variables are applied to the existing client.
 */
import { ConfigurationError } from '@shared/config';
import {
  CLIENT_ID_PATTERN,
  CLIENT_STATUSES,
  MAX_CLIENT_SECRET_LENGTH,
  MIN_CLIENT_SECRET_LENGTH,
  isValidClientId,
  registerClient,
  rotateClientSecret,
  verifyClientSecret,
  type ClientStore,
} from './client-registry';
import { SCOPE_NAMES, isKnownScope, parseScopes, type Scope } from './scopes';

/** The client made when none is named and none exists. */
export const LOCAL_DEV_CLIENT_ID = 'local-dev';

/** The variables read, `process.env` by default. */
export type BootstrapEnvironment = Readonly<Record<string, string | undefined>>;

/** Which client the local gateway can be called with, and its secret when it may be shown. */
export interface BootstrapResult {
  readonly clientId: string;
  /** Present only when generated now or given in `BLUX_CLIENT_SECRET`: print it once. */
  readonly secret?: string;
  /** Whether the client was registered by this call. */
  readonly created: boolean;
}

interface BootstrapSettings {
  readonly clientId: string;
  readonly secret?: string;
  readonly scopes: readonly Scope[];
}

const invalid = (variable: string, problem: string): ConfigurationError =>
  new ConfigurationError(`config.invalidVariable: ${variable} ${problem}`);

const present = (value: string | undefined): string | undefined => {
  const trimmed = value?.trim();

  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
};

const readScopes = (value: string | undefined): Scope[] => {
  const words = parseScopes(present(value));
  if (words.length === 0) {
    return [...SCOPE_NAMES];
  }
  const unknown = words.filter((word) => !isKnownScope(word));
  if (unknown.length > 0) {
    throw invalid(
      'BLUX_CLIENT_SCOPES',
      `names unknown scopes (${unknown.join(', ')}); known: ${SCOPE_NAMES.join(' ')}`,
    );
  }

  return [...new Set(words.filter(isKnownScope))];
};

/** The variables checked together, or `undefined` when no client is named. */
const readSettings = (env: BootstrapEnvironment): BootstrapSettings | undefined => {
  const clientId = present(env.BLUX_CLIENT_ID);
  const secret = env.BLUX_CLIENT_SECRET === '' ? undefined : env.BLUX_CLIENT_SECRET;
  if (clientId === undefined) {
    if (secret !== undefined || present(env.BLUX_CLIENT_SCOPES) !== undefined) {
      throw invalid(
        'BLUX_CLIENT_ID',
        'is needed when BLUX_CLIENT_SECRET or BLUX_CLIENT_SCOPES is set',
      );
    }

    return undefined;
  }
  if (!isValidClientId(clientId)) {
    throw invalid('BLUX_CLIENT_ID', `must match ${CLIENT_ID_PATTERN.source}, not "${clientId}"`);
  }
  // The secret is never quoted back: a wrong one may still be close to a real one.
  if (
    secret !== undefined &&
    (secret.length < MIN_CLIENT_SECRET_LENGTH || secret.length > MAX_CLIENT_SECRET_LENGTH)
  ) {
    throw invalid(
      'BLUX_CLIENT_SECRET',
      `must be ${MIN_CLIENT_SECRET_LENGTH} to ${MAX_CLIENT_SECRET_LENGTH} characters long`,
    );
  }

  return { clientId, scopes: readScopes(env.BLUX_CLIENT_SCOPES), ...(secret ? { secret } : {}) };
};

const sameScopes = (held: readonly string[], wanted: readonly string[]): boolean =>
  held.length === wanted.length && wanted.every((scope) => held.includes(scope));

const ensureNamedClient = async (
  store: ClientStore,
  settings: BootstrapSettings,
  now: Date,
): Promise<BootstrapResult> => {
  const { clientId, scopes } = settings;
  const existing = await store.get(clientId);
  if (existing === undefined) {
    const issued = await registerClient(
      store,
      { clientId, scopes },
      { secret: settings.secret, now },
    );

    return { clientId, secret: issued.secret, created: true };
  }
  if (existing.status !== CLIENT_STATUSES.active) {
    throw invalid('BLUX_CLIENT_ID', `names the client "${clientId}", which is disabled`);
  }

  // The variables are the truth for a local client: a different secret replaces the old
  // ones at once, with no grace period, since nothing else can be holding them.
  if (
    settings.secret !== undefined &&
    !(await verifyClientSecret(existing, settings.secret, now))
  ) {
    await rotateClientSecret(store, clientId, { secret: settings.secret, graceSeconds: 0, now });
  }
  if (!sameScopes(existing.scopes, scopes)) {
    await store.update(clientId, { scopes }, now);
  }

  return {
    clientId,
    ...(settings.secret === undefined ? {} : { secret: settings.secret }),
    created: false,
  };
};

const ensureSomeClient = async (store: ClientStore, now: Date): Promise<BootstrapResult> => {
  const localDev = await store.get(LOCAL_DEV_CLIENT_ID);
  const someone = localDev ?? (await store.list({ limit: 1 })).clients[0];
  if (someone !== undefined) {
    return { clientId: someone.clientId, created: false };
  }

  const issued = await registerClient(
    store,
    { clientId: LOCAL_DEV_CLIENT_ID, scopes: SCOPE_NAMES },
    { now },
  );

  return { clientId: LOCAL_DEV_CLIENT_ID, secret: issued.secret, created: true };
};

/**
 * Makes sure the local gateway has a client to call it with, per the `BLUX_CLIENT_*`
 * variables, and says which one. Throws `ConfigurationError` for a variable that is wrong.
 */
export const ensureFirstClient = async (
  store: ClientStore,
  env: BootstrapEnvironment = process.env,
  now: Date = new Date(),
): Promise<BootstrapResult> => {
  const settings = readSettings(env);

  return settings === undefined
    ? ensureSomeClient(store, now)
    : ensureNamedClient(store, settings, now);
};
