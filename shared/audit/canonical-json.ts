/**
 * RFC 8785 (JSON Canonicalization Scheme): one exact text for a JSON value, so that a hash or a
 * signature computed by the sealer is computed again, byte for byte, by any verifier.
 *
 * JCS builds on the ECMAScript serialization of primitives, which is why `JSON.stringify` does
 * the strings and the numbers here: for a string it writes `\b \f \n \r \t \" \\` as short
 * escapes, other controls below U+0020 as `\u00xx` in lower case, and everything else as is;
 * for a number it writes `Number.prototype.toString`, the form JCS names. What JCS adds is done
 * by hand: properties sorted by their UTF-16 code units, and the I-JSON limits (no lone
 * surrogates, no NaN or Infinity).
 *
 * Only plain JSON is accepted. A `Date`, a `Map`, a class instance, a bigint or a function has no
 * single JSON form that every verifier would agree on, so it is refused rather than converted.
 */

export type CanonicalJsonErrorCode =
  | 'canonicalJson.notFinite'
  | 'canonicalJson.unsupportedType'
  | 'canonicalJson.notPlainObject'
  | 'canonicalJson.loneSurrogate'
  | 'canonicalJson.cycle';

/** A value that has no canonical JSON form; `path` says where it is (`$.details.count`). */
export class CanonicalJsonError extends Error {
  override readonly name = 'CanonicalJsonError';
  readonly code: CanonicalJsonErrorCode;
  readonly path: string;

  constructor(code: CanonicalJsonErrorCode, path: string, message: string) {
    super(`${code}: ${path} ${message}`);
    this.code = code;
    this.path = path;
  }
}

// With the `u` flag a valid pair reads as one astral code point, so only a lone half matches.
const LONE_SURROGATE = /\p{Cs}/u;

/** Orders by UTF-16 code units, which is what `<` does on strings (unlike `localeCompare`). */
const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const isPlainObject = (value: object): boolean => {
  const prototype: unknown = Object.getPrototypeOf(value);

  return prototype === Object.prototype || prototype === null;
};

const childPath = (path: string, key: string): string =>
  /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;

const serializeString = (value: string, path: string): string => {
  if (LONE_SURROGATE.test(value)) {
    throw new CanonicalJsonError('canonicalJson.loneSurrogate', path, 'holds a lone surrogate');
  }

  return JSON.stringify(value);
};

const serializeNumber = (value: number, path: string): string => {
  if (!Number.isFinite(value)) {
    throw new CanonicalJsonError('canonicalJson.notFinite', path, `is ${value}, not JSON`);
  }

  // `-0` comes out as `0`, as RFC 8785 wants.
  return JSON.stringify(value);
};

/** Walks the value; `ancestors` holds the objects above it, to refuse a cycle. */
const serialize = (value: unknown, path: string, ancestors: Set<object>): string => {
  if (value === null) {
    return 'null';
  }
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return serializeNumber(value, path);
    case 'string':
      return serializeString(value, path);
    case 'object':
      return serializeContainer(value, path, ancestors);
    default:
      throw new CanonicalJsonError(
        'canonicalJson.unsupportedType',
        path,
        `is a ${typeof value}, not JSON`,
      );
  }
};

const serializeArray = (value: unknown[], path: string, ancestors: Set<object>): string => {
  const items: string[] = [];
  // An index loop rather than `map`, which skips holes: a hole is refused like `undefined`.
  for (let index = 0; index < value.length; index += 1) {
    const item: unknown = value[index];
    if (item === undefined) {
      throw new CanonicalJsonError(
        'canonicalJson.unsupportedType',
        `${path}[${index}]`,
        'is undefined, which an array cannot hold in JSON',
      );
    }
    items.push(serialize(item, `${path}[${index}]`, ancestors));
  }

  return `[${items.join(',')}]`;
};

const serializeObject = (value: object, path: string, ancestors: Set<object>): string => {
  const record = value as Record<string, unknown>;
  const members: string[] = [];
  for (const key of Object.keys(record).sort(byCodeUnits)) {
    const member = record[key];
    // An absent optional member is how TypeScript objects say "not there": it is left out.
    if (member === undefined) {
      continue;
    }
    const memberPath = childPath(path, key);
    members.push(`${serializeString(key, memberPath)}:${serialize(member, memberPath, ancestors)}`);
  }

  return `{${members.join(',')}}`;
};

const serializeContainer = (value: object, path: string, ancestors: Set<object>): string => {
  if (ancestors.has(value)) {
    throw new CanonicalJsonError('canonicalJson.cycle', path, 'refers back to itself');
  }
  const isArray = Array.isArray(value);
  if (!isArray && !isPlainObject(value)) {
    const kind = (value as { constructor?: { name?: unknown } }).constructor?.name;
    throw new CanonicalJsonError(
      'canonicalJson.notPlainObject',
      path,
      `is a ${typeof kind === 'string' ? kind : 'non-plain object'}, not a plain JSON object`,
    );
  }

  ancestors.add(value);
  try {
    return isArray
      ? serializeArray(value as unknown[], path, ancestors)
      : serializeObject(value, path, ancestors);
  } finally {
    ancestors.delete(value);
  }
};

/**
 * The RFC 8785 canonical JSON text of `value`: members sorted by UTF-16 code units, no
 * whitespace, ECMAScript string and number forms. Members whose value is `undefined` are left
 * out; anything else that is not plain JSON throws a `CanonicalJsonError`.
 */
export const canonicalJson = (value: unknown): string => {
  if (value === undefined) {
    throw new CanonicalJsonError('canonicalJson.unsupportedType', '$', 'is undefined, not JSON');
  }

  return serialize(value, '$', new Set());
};
