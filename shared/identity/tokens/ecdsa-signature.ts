/**
 * ECDSA signatures come in two encodings: DER (`SEQUENCE { INTEGER r, INTEGER s }`, what KMS
 * returns) and JOSE (r and s as fixed-size big-endian numbers, side by side, what a JWS
 * carries). The conversion is strict: a signature that is not canonical DER is refused rather
 * than guessed at, since a lenient parser is where signature malleability bugs live.
 */

export class EcdsaSignatureError extends Error {
  override readonly name = 'EcdsaSignatureError';
  readonly code = 'ecdsa.malformedDer';

  constructor(message: string) {
    super(`ecdsa.malformedDer: ${message}`);
  }
}

const DER_SEQUENCE = 0x30;
const DER_INTEGER = 0x02;
const DER_LONG_LENGTH_ONE_BYTE = 0x81;
const SHORT_LENGTH_LIMIT = 0x80;

interface DerCursor {
  readonly bytes: Uint8Array;
  offset: number;
}

const readByte = (cursor: DerCursor): number => {
  const byte = cursor.bytes[cursor.offset];
  if (byte === undefined) {
    throw new EcdsaSignatureError('the signature ends early');
  }
  cursor.offset += 1;

  return byte;
};

/** Reads a DER length; one long-form byte covers every curve up to P-521. */
const readLength = (cursor: DerCursor): number => {
  const first = readByte(cursor);
  if (first < SHORT_LENGTH_LIMIT) {
    return first;
  }
  if (first !== DER_LONG_LENGTH_ONE_BYTE) {
    throw new EcdsaSignatureError('unsupported length encoding');
  }
  const length = readByte(cursor);
  if (length < SHORT_LENGTH_LIMIT) {
    throw new EcdsaSignatureError('a short length written in long form is not DER');
  }

  return length;
};

/** Reads one positive INTEGER and returns it left-padded to `partBytes`. */
const readInteger = (cursor: DerCursor, partBytes: number): Uint8Array => {
  if (readByte(cursor) !== DER_INTEGER) {
    throw new EcdsaSignatureError('expected an INTEGER');
  }
  const length = readLength(cursor);
  const end = cursor.offset + length;
  if (length === 0 || end > cursor.bytes.length) {
    throw new EcdsaSignatureError('the INTEGER length does not fit the signature');
  }
  let value = cursor.bytes.subarray(cursor.offset, end);
  cursor.offset = end;

  // DER integers are signed: a leading zero byte is there only to keep a high bit positive.
  const [first = 0, second = 0] = value;
  if (first >= SHORT_LENGTH_LIMIT) {
    throw new EcdsaSignatureError('r and s must be positive');
  }
  if (first === 0 && value.length > 1) {
    if (second < SHORT_LENGTH_LIMIT) {
      throw new EcdsaSignatureError('the INTEGER has a superfluous leading zero');
    }
    value = value.subarray(1);
  }
  if (value.length > partBytes) {
    throw new EcdsaSignatureError(`the INTEGER is longer than ${partBytes} bytes`);
  }
  if (value.every((byte) => byte === 0)) {
    throw new EcdsaSignatureError('r and s must not be zero');
  }
  const padded = new Uint8Array(partBytes);
  padded.set(value, partBytes - value.length);

  return padded;
};

/**
 * Converts a DER ECDSA signature to the JOSE form: r || s, each left-padded to `partBytes`
 * (32 for ES256, 48 for ES384, 66 for ES512).
 */
export const derToJoseSignature = (der: Uint8Array, partBytes: number): Uint8Array => {
  const cursor: DerCursor = { bytes: der, offset: 0 };
  if (readByte(cursor) !== DER_SEQUENCE) {
    throw new EcdsaSignatureError('expected a SEQUENCE');
  }
  const length = readLength(cursor);
  if (cursor.offset + length !== der.length) {
    throw new EcdsaSignatureError('the SEQUENCE length does not match the signature');
  }

  const r = readInteger(cursor, partBytes);
  const s = readInteger(cursor, partBytes);
  if (cursor.offset !== der.length) {
    throw new EcdsaSignatureError('bytes follow s');
  }
  const jose = new Uint8Array(2 * partBytes);
  jose.set(r, 0);
  jose.set(s, partBytes);

  return jose;
};
