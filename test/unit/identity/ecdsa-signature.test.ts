import { generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { derToJoseSignature, EcdsaSignatureError } from '@shared/identity/tokens/ecdsa-signature';

const CURVES = [
  { curve: 'P-256', hash: 'sha256', partBytes: 32, signatures: 500 },
  { curve: 'P-384', hash: 'sha384', partBytes: 48, signatures: 100 },
  { curve: 'P-521', hash: 'sha512', partBytes: 66, signatures: 50 },
] as const;

/** A DER signature from two hand-picked INTEGER bodies (their bytes exactly as given). */
const derOf = (r: number[], s: number[]): Uint8Array =>
  Uint8Array.from([0x30, r.length + s.length + 4, 0x02, r.length, ...r, 0x02, s.length, ...s]);

const expectMalformed = (der: Uint8Array, partBytes = 32): void => {
  expect(() => derToJoseSignature(der, partBytes)).toThrow(EcdsaSignatureError);
};

describe('derToJoseSignature', () => {
  it.each(CURVES)(
    'converts many $curve signatures into the ieee-p1363 form node verifies',
    ({ curve, hash, partBytes, signatures }) => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });

      for (let round = 0; round < signatures; round += 1) {
        const message = randomBytes(1 + (round % 97));
        const der = sign(hash, message, { key: privateKey, dsaEncoding: 'der' });
        const jose = derToJoseSignature(der, partBytes);

        expect(jose).toHaveLength(2 * partBytes);
        // ECDSA signs with a random nonce and node offers no converter, so the proof is that
        // node accepts the result as an ieee-p1363 signature: only the exact r || s verifies.
        expect(verify(hash, message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, jose)).toBe(
          true,
        );
      }
    },
  );

  it('converts r and s that need a leading zero or are shorter than 32 bytes', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    let shortParts = 0;
    let paddedParts = 0;

    // About one part in 128 is short and one in two carries a sign-keeping zero byte: keep
    // signing until both shapes have been met, checking every conversion on the way.
    for (let round = 0; round < 20_000 && shortParts < 3; round += 1) {
      const message = randomBytes(32);
      const der = sign('sha256', message, { key: privateKey, dsaEncoding: 'der' });
      const jose = derToJoseSignature(der, 32);
      const rLength = der[3] ?? 0;
      const sLength = der[4 + rLength + 1] ?? 0;
      shortParts += (rLength < 32 ? 1 : 0) + (sLength < 32 ? 1 : 0);
      paddedParts += (rLength === 33 ? 1 : 0) + (sLength === 33 ? 1 : 0);
      expect(verify('sha256', message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, jose)).toBe(
        true,
      );
    }

    expect(shortParts).toBeGreaterThanOrEqual(3);
    expect(paddedParts).toBeGreaterThan(0);
  });

  it('left-pads short values and drops the sign-keeping zero byte', () => {
    const r = [0x01, 0x02];
    const s = [0x00, 0x80, ...new Array<number>(31).fill(0x11)];

    const jose = derToJoseSignature(derOf(r, s), 32);

    expect(Array.from(jose.subarray(0, 32))).toEqual([...new Array<number>(30).fill(0), 1, 2]);
    expect(Array.from(jose.subarray(32))).toEqual([0x80, ...new Array<number>(31).fill(0x11)]);
  });

  it('reads the long length form that P-521 signatures use', () => {
    const part = [0x01, ...new Array<number>(65).fill(0x22)];
    const body = [0x02, 66, ...part, 0x02, 66, ...part];
    const der = Uint8Array.from([0x30, 0x81, body.length, ...body]);

    const jose = derToJoseSignature(der, 66);

    expect(Array.from(jose)).toEqual([...part, ...part]);
  });

  it('rejects an empty or truncated signature', () => {
    const der = derOf([0x01, 0x02], [0x03]);

    expectMalformed(new Uint8Array());
    expectMalformed(der.subarray(0, der.length - 1));
    expectMalformed(der.subarray(0, 3));
  });

  it('rejects a signature that is not a SEQUENCE of two INTEGERs', () => {
    const der = derOf([0x01], [0x02]);

    expectMalformed(Uint8Array.from([0x31, ...der.subarray(1)]));
    expectMalformed(Uint8Array.from([...der.subarray(0, 2), 0x04, ...der.subarray(3)]));
    expectMalformed(Uint8Array.from([0x30, 0x03, 0x02, 0x01, 0x01]));
  });

  it('rejects lengths that do not match the bytes', () => {
    const der = derOf([0x01], [0x02]);

    expectMalformed(Uint8Array.from([0x30, 0x07, ...der.subarray(2)]));
    expectMalformed(Uint8Array.from([...der, 0x00]));
    expectMalformed(Uint8Array.from([0x30, 0x06, 0x02, 0x05, 0x01, 0x02, 0x01, 0x02]));
  });

  it('rejects a SEQUENCE that holds more than r and s', () => {
    expectMalformed(Uint8Array.from([0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02, 0x00]));
  });

  it('rejects a short length written in the long form, which is not DER', () => {
    const body = [0x02, 0x01, 0x01, 0x02, 0x01, 0x02];

    expectMalformed(Uint8Array.from([0x30, 0x81, body.length, ...body]));
  });

  it('rejects negative, zero and superfluously padded integers', () => {
    expectMalformed(derOf([0x80, 0x01], [0x01]));
    expectMalformed(derOf([0x00], [0x01]));
    expectMalformed(derOf([0x01], [0x00, 0x00]));
    expectMalformed(derOf([0x00, 0x01], [0x01]));
    expectMalformed(derOf([], [0x01]));
  });

  it('rejects values longer than the curve allows', () => {
    expectMalformed(derOf(new Array<number>(33).fill(0x01), [0x01]));
    expectMalformed(derOf([0x01], [0x00, ...new Array<number>(33).fill(0x80)]));
  });

  it('names its error and its stable code', () => {
    const error = (() => {
      try {
        derToJoseSignature(new Uint8Array([0x30]), 32);
      } catch (caught) {
        return caught;
      }
    })();

    expect(error).toMatchObject({ name: 'EcdsaSignatureError', code: 'ecdsa.malformedDer' });
  });
});
