import { describe, expect, it } from 'vitest';
import type { Identity } from '@shared/identity/identity';
import { createVerifiedTokenCache } from '@shared/identity/tokens/verified-token-cache';

const identity = (subject: string): Identity => ({
  id: `service:${subject}`,
  kind: 'service',
  subject,
  scopes: [],
  method: 'bearer',
  issuer: 'https://gateway.blux.test',
});

const NOW_MS = 1_900_000_000_000;

describe('createVerifiedTokenCache', () => {
  it('answers a remembered token until it expires, then forgets it', () => {
    const cache = createVerifiedTokenCache();
    cache.remember('token-a', identity('a'), NOW_MS + 1_000, NOW_MS);

    expect(cache.lookup('token-a', NOW_MS + 999)).toEqual({
      found: 'valid',
      identity: identity('a'),
    });
    expect(cache.lookup('token-a', NOW_MS + 1_000)).toEqual({ found: 'expired' });
    expect(cache.lookup('token-a', NOW_MS + 1_000)).toEqual({ found: 'none' });
    expect(cache.size).toBe(0);
  });

  it('does not confuse tokens that differ in one character', () => {
    const cache = createVerifiedTokenCache();
    cache.remember('token-a', identity('a'), NOW_MS + 1_000, NOW_MS);

    expect(cache.lookup('token-b', NOW_MS)).toEqual({ found: 'none' });
  });

  it('stays within its bound, evicting expired entries before live ones', () => {
    const cache = createVerifiedTokenCache(3);
    cache.remember('live-1', identity('1'), NOW_MS + 60_000, NOW_MS);
    cache.remember('expiring', identity('2'), NOW_MS + 10, NOW_MS);
    cache.remember('live-3', identity('3'), NOW_MS + 60_000, NOW_MS);

    cache.remember('live-4', identity('4'), NOW_MS + 60_000, NOW_MS + 20);

    expect(cache.size).toBe(3);
    expect(cache.lookup('live-1', NOW_MS + 20).found).toBe('valid');
    expect(cache.lookup('expiring', NOW_MS + 20).found).toBe('none');
  });

  it('gives up its oldest entry when full of live ones', () => {
    const cache = createVerifiedTokenCache(3);
    for (const name of ['t1', 't2', 't3', 't4', 't5']) {
      cache.remember(name, identity(name), NOW_MS + 60_000, NOW_MS);
    }

    expect(cache.size).toBe(3);
    expect(['t1', 't2', 't3', 't4', 't5'].map((name) => cache.lookup(name, NOW_MS).found)).toEqual([
      'none',
      'none',
      'valid',
      'valid',
      'valid',
    ]);
  });
});
