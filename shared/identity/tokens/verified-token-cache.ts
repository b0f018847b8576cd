/**
 * Identities of tokens already verified, so that a client reusing its token for an hour pays
 * for the signature check once per warm instance. Entries are keyed by the SHA-256 of the token,
 * so the cache neither holds raw tokens nor grows with their size, and each one lasts until its
 * token expires. The map is bounded: when full, expired entries go first, then the oldest.
 */
import { createHash } from 'node:crypto';
import type { Identity } from '@shared/identity/identity';

export const MAX_CACHED_TOKENS = 10_000;

const SWEEP_INTERVAL_MS = 1_000;

interface CachedIdentity {
  readonly identity: Identity;
  /** Epoch milliseconds after which the token no longer verifies (expiry plus skew). */
  readonly validUntilMs: number;
}

export type CacheLookup =
  | { readonly found: 'valid'; readonly identity: Identity }
  | { readonly found: 'expired' }
  | { readonly found: 'none' };

export interface VerifiedTokenCache {
  lookup(token: string, nowMs: number): CacheLookup;
  remember(token: string, identity: Identity, validUntilMs: number, nowMs: number): void;
  readonly size: number;
}

const keyOf = (token: string): string => createHash('sha256').update(token).digest('base64url');

export const createVerifiedTokenCache = (maxEntries = MAX_CACHED_TOKENS): VerifiedTokenCache => {
  // A Map iterates in insertion order: the first entry is the one cached longest ago.
  const entries = new Map<string, CachedIdentity>();

  let sweptAtMs = Number.NEGATIVE_INFINITY;

  // A full sweep costs a walk over the whole map, so it runs at most once a second; between
  // sweeps a full cache gives up its oldest entry.
  const makeRoom = (nowMs: number): void => {
    if (nowMs - sweptAtMs >= SWEEP_INTERVAL_MS) {
      sweptAtMs = nowMs;
      for (const [key, entry] of entries) {
        if (entry.validUntilMs <= nowMs) {
          entries.delete(key);
        }
      }
    }
    const oldest = entries.keys().next();
    if (entries.size >= maxEntries && oldest.done !== true) {
      entries.delete(oldest.value);
    }
  };

  return {
    lookup: (token, nowMs) => {
      const key = keyOf(token);
      const entry = entries.get(key);
      if (entry === undefined) {
        return { found: 'none' };
      }
      if (entry.validUntilMs <= nowMs) {
        entries.delete(key);

        return { found: 'expired' };
      }

      return { found: 'valid', identity: entry.identity };
    },
    remember: (token, identity, validUntilMs, nowMs) => {
      const key = keyOf(token);
      entries.delete(key);
      if (entries.size >= maxEntries) {
        makeRoom(nowMs);
      }
      entries.set(key, { identity, validUntilMs });
    },
    get size() {
      return entries.size;
    },
  };
};
