import { describe, expect, it } from 'vitest';
import {
  counterExpiresAt,
  counterKey,
  counterShards,
  fixedWindow,
  MAX_COUNTER_SHARDS,
  secondsUntil,
  shardLimit,
} from '@shared/rate-limit/fixed-window';

const at = (minute: number, second: number, ms = 0): number =>
  Date.UTC(2026, 11, 3, 18, minute, second, ms);

describe('fixed windows', () => {
  it('start on whole multiples of their length and reset one length later', () => {
    expect(fixedWindow(at(0, 59, 999), 60)).toEqual({ startMs: at(0, 0), resetAtMs: at(1, 0) });
    expect(fixedWindow(at(1, 0), 60)).toEqual({ startMs: at(1, 0), resetAtMs: at(2, 0) });
    expect(fixedWindow(at(0, 7, 400), 1)).toEqual({ startMs: at(0, 7), resetAtMs: at(0, 8) });
  });

  it('count whole seconds to the reset, never 0 while open', () => {
    expect(secondsUntil(at(1, 0), at(0, 59, 999))).toBe(1);
    expect(secondsUntil(at(1, 0), at(0, 10))).toBe(50);
    expect(secondsUntil(at(1, 0), at(0, 10, 1))).toBe(50);
  });

  it('expire their counters a grace period after the reset, in epoch seconds', () => {
    expect(counterExpiresAt(fixedWindow(at(0, 10), 60))).toBe(at(1, 0) / 1_000 + 60);
  });
});

describe('counter keys', () => {
  const window = fixedWindow(at(0, 10), 60);

  it('name the policy, the subject and the window start, and the shard when split', () => {
    expect(counterKey({ policy: 'service-minute', subject: 'service:billing', window })).toBe(
      `service-minute#service:billing#${at(0, 0) / 1_000}`,
    );
    expect(counterKey({ policy: 'burst', subject: 'service:hot', window, shard: 3 })).toBe(
      `burst#service:hot#${at(0, 0) / 1_000}#3`,
    );
  });

  it('escape # and % so that no subject can pose as another key', () => {
    const tricky = counterKey({ policy: 'user-minute', subject: 'user:a#1%', window });

    expect(tricky).toBe(`user-minute#user:a%231%25#${at(0, 0) / 1_000}`);
  });

  it('hold a hash instead of a very long subject', () => {
    const key = counterKey({ policy: 'user-minute', subject: `user:${'x'.repeat(500)}`, window });

    expect(key).toMatch(/^user-minute#sha256:[0-9a-f]{64}#\d+$/);
  });
});

describe('sharding', () => {
  it('keeps the default limits on one key each', () => {
    expect(counterShards(1_000, 60)).toBe(1);
    expect(counterShards(100, 60)).toBe(1);
    expect(counterShards(50, 1)).toBe(1);
    expect(counterShards(250, 1)).toBe(1);
  });

  it('splits a counter above 250 writes a second into enough shards, up to the cap', () => {
    expect(counterShards(251, 1)).toBe(2);
    expect(counterShards(1_000, 1)).toBe(4);
    expect(counterShards(60_000, 60)).toBe(4);
    expect(counterShards(100_000, 1)).toBe(MAX_COUNTER_SHARDS);
  });

  it('gives shards shares that differ by at most one and add up to the limit', () => {
    const shares = [0, 1, 2, 3].map((index) => shardLimit(1_001, 4, index));

    expect(shares).toEqual([251, 250, 250, 250]);
    expect(shares.reduce((sum, share) => sum + share, 0)).toBe(1_001);
  });
});
