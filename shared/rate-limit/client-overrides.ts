/**
 * A client's own limits, from its record in the client registry, kept for a minute in the
 * function instance. Without the memory every identified request would read the clients table
 * before counting; with it, a change to a client's limits takes up to
 * `CLIENT_OVERRIDES_CACHE_SECONDS` to be seen by every instance.
 */
import { ServiceUnavailableError } from '@shared/errors/gateway-error';
import type { ClientRateLimits, ClientStore } from '@shared/identity/client-registry';
import { logger } from '@shared/logging/logger';
import { RATE_LIMIT_METRICS } from './rate-limiter';

export const CLIENT_OVERRIDES_CACHE_SECONDS = 60;
export const MAX_CACHED_CLIENT_OVERRIDES = 1_000;

export interface ClientOverrides {
  /** The client's overrides, `undefined` when it has none (or is unknown). */
  limitsFor(clientId: string): Promise<ClientRateLimits | undefined>;
}

export interface ClientOverridesOptions {
  readonly now?: () => number;
  /** Called when the registry is unreachable; logs a metric line by default. */
  readonly onFault?: (clientId: string, error: unknown) => void;
}

const logOverridesFault = (clientId: string, error: unknown): void => {
  logger.warn('client rate limits unavailable', {
    metric: RATE_LIMIT_METRICS.overridesUnavailable,
    client_id: clientId,
    error,
  });
};

interface Remembered {
  readonly limits: ClientRateLimits | undefined;
  readonly fetchedAtMs: number;
}

/**
 * Overrides read through `clients`. When the registry is throttled or unreachable the last
 * known overrides stand, or the defaults for a client never read: the identity is already
 * authenticated, and its own limits are a refinement the request should not fail over.
 */
export const createClientOverrides = (
  clients: Pick<ClientStore, 'get'>,
  options: ClientOverridesOptions = {},
): ClientOverrides => {
  const now = options.now ?? Date.now;
  const onFault = options.onFault ?? logOverridesFault;
  const remembered = new Map<string, Remembered>();
  const pending = new Map<string, Promise<ClientRateLimits | undefined>>();

  const remember = (clientId: string, limits: ClientRateLimits | undefined): void => {
    remembered.delete(clientId);
    if (remembered.size >= MAX_CACHED_CLIENT_OVERRIDES) {
      const oldest = remembered.keys().next().value;
      if (oldest !== undefined) {
        remembered.delete(oldest);
      }
    }
    remembered.set(clientId, { limits, fetchedAtMs: now() });
  };

  const read = async (clientId: string): Promise<ClientRateLimits | undefined> => {
    try {
      const limits = (await clients.get(clientId))?.rateLimits;
      remember(clientId, limits);

      return limits;
    } catch (error) {
      if (!(error instanceof ServiceUnavailableError)) {
        throw error;
      }
      onFault(clientId, error);

      return remembered.get(clientId)?.limits;
    }
  };

  return {
    limitsFor: async (clientId) => {
      const known = remembered.get(clientId);
      if (
        known !== undefined &&
        now() - known.fetchedAtMs < CLIENT_OVERRIDES_CACHE_SECONDS * 1_000
      ) {
        return known.limits;
      }
      // Concurrent requests of one client share one read.
      let inFlight = pending.get(clientId);
      if (inFlight === undefined) {
        inFlight = read(clientId).finally(() => pending.delete(clientId));
        pending.set(clientId, inFlight);
      }

      return inFlight;
    },
  };
};
