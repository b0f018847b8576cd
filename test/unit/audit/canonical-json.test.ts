import { describe, expect, it } from 'vitest';
import { auditEntryHash } from '@shared/audit/audit-seal';
import { generateAuditSigningKey } from '@shared/audit/audit-signing-key';
import { canonicalJson, CanonicalJsonError } from '@shared/audit/canonical-json';
import { sealedTrail } from './audit-trail-fixture';

/** The IEEE 754 double whose 64 bits are `hex`, as RFC 8785 Appendix B lists them. */
const double = (hex: string): number => {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(BigInt(`0x${hex}`));

  return bytes.readDoubleBE(0);
};

const errorCode = (run: () => unknown): string | undefined => {
  try {
    run();
  } catch (error) {
    return error instanceof CanonicalJsonError ? error.code : `not a CanonicalJsonError: ${error}`;
  }

  return undefined;
};

describe('canonicalJson, against the RFC 8785 examples', () => {
  it('serializes the example of section 3.2.2 as the RFC prints it', () => {
    const input = String.raw`{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }`;
    const expected =
      String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,` +
      String.raw`1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`;

    expect(canonicalJson(JSON.parse(input))).toBe(expected);
  });

  it('sorts properties by UTF-16 code units, as in the example of section 3.2.3', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    // U+1F600 is the pair D83D DE00, which sorts before U+FB33 although its code point is higher.
    const expected =
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control",' +
      '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",' +
      '"\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}';

    expect(canonicalJson(input)).toBe(expected);
  });

  it.each([
    ['0000000000000000', '0'],
    ['8000000000000000', '0'],
    ['0000000000000001', '5e-324'],
    ['8000000000000001', '-5e-324'],
    ['7fefffffffffffff', '1.7976931348623157e+308'],
    ['ffefffffffffffff', '-1.7976931348623157e+308'],
    ['4340000000000000', '9007199254740992'],
    ['c340000000000000', '-9007199254740992'],
    ['4430000000000000', '295147905179352830000'],
    ['44b52d02c7e14af5', '9.999999999999997e+22'],
    ['44b52d02c7e14af6', '1e+23'],
    ['44b52d02c7e14af7', '1.0000000000000001e+23'],
    ['444b1ae4d6e2ef4e', '999999999999999700000'],
    ['444b1ae4d6e2ef4f', '999999999999999900000'],
    ['444b1ae4d6e2ef50', '1e+21'],
    ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
    ['3eb0c6f7a0b5ed8d', '0.000001'],
    ['41b3de4355555553', '333333333.3333332'],
    ['41b3de4355555554', '333333333.33333325'],
    ['41b3de4355555555', '333333333.3333333'],
    ['41b3de4355555556', '333333333.3333334'],
    ['41b3de4355555557', '333333333.33333343'],
    ['becbf647612f3696', '-0.0000033333333333333333'],
    ['43143ff3c1cb0959', '1424953923781206.2'],
  ])('writes the double %s as %s (Appendix B)', (hex, expected) => {
    expect(canonicalJson(double(hex))).toBe(expected);
    expect(canonicalJson({ n: [double(hex)] })).toBe(`{"n":[${expected}]}`);
  });

  it.each([
    ['7fffffffffffffff', 'NaN'],
    ['7ff0000000000000', 'Infinity'],
    ['fff0000000000000', '-Infinity'],
  ])('refuses the double %s (%s), which JSON cannot hold', (hex) => {
    expect(errorCode(() => canonicalJson({ value: double(hex) }))).toBe('canonicalJson.notFinite');
  });
});

describe('canonicalJson', () => {
  it('escapes controls below U+0020 in lower-case hex and leaves the rest of Unicode as is', () => {
    expect(canonicalJson('\u0000\u0008\t\n\u000b\f\r\u001f "\\/\u007f\u2028é')).toBe(
      '"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f \\"\\\\/\u007f\u2028é"',
    );
  });

  it('sorts members at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: { z: 1, a: [{ y: true, x: null }] }, a: 'A' })).toBe(
      '{"a":"A","b":{"a":[{"x":null,"y":true}],"z":1}}',
    );
  });

  it('gives the same text for the same value whatever the key order or whitespace', () => {
    const one = JSON.parse('{"a":1,"b":{"c":[1,2],"d":"x"}}') as unknown;
    const other = JSON.parse(
      '{\n  "b" : { "d" : "x", "c" : [ 1 , 2 ] },\n  "a" : 1.0\n}',
    ) as unknown;

    expect(canonicalJson(other)).toBe(canonicalJson(one));
  });

  it('leaves out members whose value is undefined', () => {
    expect(canonicalJson({ kept: 1, dropped: undefined })).toBe('{"kept":1}');
  });

  it('accepts objects without a prototype', () => {
    const bare = Object.assign(Object.create(null) as object, { b: 2, a: 1 });

    expect(canonicalJson(bare)).toBe('{"a":1,"b":2}');
  });

  it.each([
    ['a bigint', { value: 1n }, 'canonicalJson.unsupportedType'],
    ['a symbol', { value: Symbol('s') }, 'canonicalJson.unsupportedType'],
    ['a function', { value: () => 1 }, 'canonicalJson.unsupportedType'],
    ['undefined at the top', undefined, 'canonicalJson.unsupportedType'],
    ['undefined in an array', [1, undefined], 'canonicalJson.unsupportedType'],
    // eslint-disable-next-line no-sparse-arrays
    ['a hole in an array', [1, , 3], 'canonicalJson.unsupportedType'],
    ['a Date', { value: new Date(0) }, 'canonicalJson.notPlainObject'],
    ['a Map', { value: new Map() }, 'canonicalJson.notPlainObject'],
    ['a typed array', { value: new Uint8Array(2) }, 'canonicalJson.notPlainObject'],
    ['a lone high surrogate', { value: 'a\ud800b' }, 'canonicalJson.loneSurrogate'],
    ['a lone low surrogate in a key', { ['\udc00']: 1 }, 'canonicalJson.loneSurrogate'],
  ])('refuses %s with a named error', (_what, value, code) => {
    expect(errorCode(() => canonicalJson(value))).toBe(code);
  });

  it('refuses a cycle but not the same object twice side by side', () => {
    const shared = { a: 1 };
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;

    expect(canonicalJson({ x: shared, y: shared })).toBe('{"x":{"a":1},"y":{"a":1}}');
    expect(errorCode(() => canonicalJson(cyclic))).toBe('canonicalJson.cycle');
  });

  it('says where the offending value is', () => {
    let caught: unknown;
    try {
      canonicalJson({ details: { 'odd key': [0, Number.NaN] } });
    } catch (error) {
      caught = error;
    }

    expect(caught).toBeInstanceOf(CanonicalJsonError);
    expect((caught as CanonicalJsonError).name).toBe('CanonicalJsonError');
    expect((caught as CanonicalJsonError).path).toBe('$.details["odd key"][1]');
  });
});

describe('auditEntryHash', () => {
  it('is the same for an entry re-read with its keys in another order and other whitespace', () => {
    const [entry] = sealedTrail(generateAuditSigningKey(), 1, 1).entries;
    if (entry === undefined) {
      throw new Error('the fixture made no entry');
    }
    const reversed = Object.fromEntries(Object.entries(entry).reverse());
    const reread = JSON.parse(JSON.stringify(reversed, null, 4)) as typeof entry;

    expect(Object.keys(reread)).not.toEqual(Object.keys(entry));
    expect(auditEntryHash(reread)).toBe(entry.hash);
    expect(auditEntryHash({ ...entry, details: { ...entry.details, extra: 1 } })).not.toBe(
      entry.hash,
    );
  });
});
