import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  KEY_RING_FILE,
  openLocalKeyRing,
  RETIRED_KEY_RETENTION_SECONDS,
} from '@shared/identity/tokens/local-key-ring';
import { SigningKeyError } from '@shared/identity/tokens/signing-key';
import { TOKEN_TTL_SECONDS } from '@shared/identity/tokens/token-issuer';
import { MAX_CLOCK_SKEW_SECONDS } from '@shared/identity/tokens/token-verifier';

let dataDir: string;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'blux-key-ring-'));
});

afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

/** A clock the test moves by hand. */
const manualClock = (start = new Date('2030-01-01T00:00:00Z')) => {
  let current = start.getTime();

  return {
    now: () => new Date(current),
    advanceSeconds: (seconds: number) => {
      current += seconds * 1000;
    },
  };
};

const ringFile = (): string => join(dataDir, KEY_RING_FILE);

describe('openLocalKeyRing', () => {
  it('keeps a retired key until its last token has expired, with the clock skew', () => {
    expect(RETIRED_KEY_RETENTION_SECONDS).toBe(TOKEN_TTL_SECONDS + MAX_CLOCK_SKEW_SECONDS);
  });

  it('starts with one active key, published alone, when it has no data directory', async () => {
    const ring = await openLocalKeyRing();

    expect(ring.activeKey().kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(ring.publishedKeys()).toEqual([ring.activeKey()]);
    expect(await readdir(dataDir)).toEqual([]);
  });

  it('writes the ring to keys/token-keys.json readable by the owner only', async () => {
    await openLocalKeyRing({ dataDir });

    expect((await stat(ringFile())).mode & 0o777).toBe(0o600);
    expect((await stat(join(dataDir, 'keys'))).mode & 0o077).toBe(0);
    expect(await readdir(join(dataDir, 'keys'))).toEqual(['token-keys.json']);
  });

  it('reloads the same key on the next start', async () => {
    const first = await openLocalKeyRing({ dataDir });

    const second = await openLocalKeyRing({ dataDir });

    expect(second.activeKey().kid).toBe(first.activeKey().kid);
    expect(await second.activeKey().publicJwk()).toEqual(await first.activeKey().publicJwk());
  });

  it('gives two processes that start together the same key', async () => {
    const [one, two] = await Promise.all([
      openLocalKeyRing({ dataDir }),
      openLocalKeyRing({ dataDir }),
    ]);

    expect(one.activeKey().kid).toBe(two.activeKey().kid);
    expect(await readdir(join(dataDir, 'keys'))).toEqual(['token-keys.json']);
  });

  it('rotates to a new active key and keeps publishing the retired one', async () => {
    const clock = manualClock();
    const ring = await openLocalKeyRing({ dataDir, now: clock.now });
    const retired = ring.activeKey();

    const fresh = await ring.rotate();

    expect(fresh.kid).not.toBe(retired.kid);
    expect(ring.activeKey()).toBe(fresh);
    expect(ring.publishedKeys().map((key) => key.kid)).toEqual([fresh.kid, retired.kid]);
  });

  it('persists a rotation, leaving no temporary file behind', async () => {
    const ring = await openLocalKeyRing({ dataDir });
    const retired = ring.activeKey();
    const fresh = await ring.rotate();

    const reloaded = await openLocalKeyRing({ dataDir });

    expect(reloaded.activeKey().kid).toBe(fresh.kid);
    expect(reloaded.publishedKeys().map((key) => key.kid)).toEqual([fresh.kid, retired.kid]);
    expect(await readdir(join(dataDir, 'keys'))).toEqual(['token-keys.json']);
    expect((await stat(ringFile())).mode & 0o777).toBe(0o600);
  });

  it('drops a retired key once its last token can have expired', async () => {
    const clock = manualClock();
    const ring = await openLocalKeyRing({ dataDir, now: clock.now });
    const retired = ring.activeKey();
    const fresh = await ring.rotate();

    clock.advanceSeconds(RETIRED_KEY_RETENTION_SECONDS - 1);
    expect(ring.publishedKeys().map((key) => key.kid)).toContain(retired.kid);

    clock.advanceSeconds(2);
    expect(ring.publishedKeys().map((key) => key.kid)).toEqual([fresh.kid]);
  });

  it('removes dropped keys from the file at the next rotation', async () => {
    const clock = manualClock();
    const ring = await openLocalKeyRing({ dataDir, now: clock.now });
    const oldest = ring.activeKey();
    await ring.rotate();
    clock.advanceSeconds(RETIRED_KEY_RETENTION_SECONDS + 1);

    await ring.rotate();

    expect(await readFile(ringFile(), 'utf8')).not.toContain(oldest.kid);
    expect(ring.publishedKeys()).toHaveLength(2);
  });

  it('runs concurrent rotations one after the other', async () => {
    const ring = await openLocalKeyRing({ dataDir });
    const original = ring.activeKey();

    const [a, b] = await Promise.all([ring.rotate(), ring.rotate()]);

    expect(new Set([original.kid, a.kid, b.kid]).size).toBe(3);
    expect(ring.activeKey()).toBe(b);
    expect(ring.publishedKeys().map((key) => key.kid)).toEqual([b.kid, a.kid, original.kid]);
  });

  it('refuses a file that is not a key ring rather than replacing it', async () => {
    await openLocalKeyRing({ dataDir });
    await writeFile(ringFile(), '{"version":1,"keys":"nope"}');

    const opening = openLocalKeyRing({ dataDir });

    await expect(opening).rejects.toThrow(SigningKeyError);
    await expect(opening).rejects.toMatchObject({ code: 'signingKey.keyRingUnreadable' });
    expect(await readFile(ringFile(), 'utf8')).toBe('{"version":1,"keys":"nope"}');
  });

  it('refuses a file whose kid is not the thumbprint of its key', async () => {
    await openLocalKeyRing({ dataDir });
    const ring = JSON.parse(await readFile(ringFile(), 'utf8'));
    ring.keys[0].kid = 'forged';
    await writeFile(ringFile(), JSON.stringify(ring));

    await expect(openLocalKeyRing({ dataDir })).rejects.toThrow(/not its thumbprint/);
  });

  it('refuses a file without exactly one active key', async () => {
    await openLocalKeyRing({ dataDir });
    const ring = JSON.parse(await readFile(ringFile(), 'utf8'));
    ring.keys[0].retiredAt = new Date().toISOString();
    await writeFile(ringFile(), JSON.stringify(ring));

    await expect(openLocalKeyRing({ dataDir })).rejects.toThrow(/exactly one active key/);
  });
});
