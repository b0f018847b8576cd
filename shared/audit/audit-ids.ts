/**
 * Audit ids and new audit entries. An id is `aud_` and a ULID-like body: 48 bits of
 * milliseconds since the epoch, then 80 random bits, in 26 characters of Crockford base32. Ids
 * therefore sort by the millisecond they were made in; ids of the same millisecond sort in a
 * random order, which is enough for a listing since the chain, not the id, orders the trail.
 */
import { createHash, randomBytes } from 'node:crypto';
import { SERVICE_NAMES, type ServiceName } from '@shared/catalog/services';
import {
  AUDIT_CHAIN_COUNT,
  type AuditDetailValue,
  type AuditEntryInput,
  type AuditOutcome,
  type UnsealedAuditEntry,
} from './audit-entry';

export const AUDIT_ID_PREFIX = 'aud_';

/** Crockford's base32: no I, L, O or U, so that an id read aloud or retyped stays the same. */
const CROCKFORD_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

const ID_BODY_CHARS = 26;
const TIME_BITS = 48n;
const RANDOM_BITS = 80n;
const RANDOM_BYTES = Number(RANDOM_BITS / 8n);
const BITS_PER_CHAR = 5n;
const MAX_ID_TIME_MS = 2 ** Number(TIME_BITS) - 1;

// 26 characters carry 130 bits for 128: the first character only ever holds 0 to 7.
const AUDIT_ID_PATTERN = /^aud_[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

/** `task.create`, `auth.token`, `rate_limit.exceeded`: a lower-case word, then dotted words. */
export const AUDIT_OPERATION_PATTERN = /^[a-z][a-z_]*(\.[a-z_]+)+$/;

export const MAX_AUDIT_OPERATION_CHARS = 128;
export const MAX_AUDIT_IDENTITY_CHARS = 256;
export const MAX_AUDIT_REQUEST_ID_CHARS = 256;
export const MAX_AUDIT_RESOURCE_CHARS = 256;
export const MAX_AUDIT_DETAIL_KEYS = 20;
export const MAX_AUDIT_DETAIL_KEY_CHARS = 64;
export const MAX_AUDIT_DETAIL_STRING_CHARS = 256;

/** A detail key: a word that a log query or a column header can use as is. */
const DETAIL_KEY_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]*$/;

const OUTCOMES: readonly AuditOutcome[] = ['success', 'failure', 'refused'];

export type AuditEntryErrorCode =
  | 'auditEntry.invalidTime'
  | 'auditEntry.invalidId'
  | 'auditEntry.invalidService'
  | 'auditEntry.invalidOperation'
  | 'auditEntry.invalidIdentity'
  | 'auditEntry.invalidOutcome'
  | 'auditEntry.invalidRequestId'
  | 'auditEntry.invalidResource'
  | 'auditEntry.tooManyDetails'
  | 'auditEntry.invalidDetail';

/**
 * An audit entry a writer may not create: a bug in the writer, never the client's fault, so it
 * names the field and the rule but never echoes the value (it might hold a secret).
 */
export class AuditEntryError extends Error {
  override readonly name = 'AuditEntryError';
  readonly code: AuditEntryErrorCode;
  /** The offending input field, `details.<key>` for a detail. */
  readonly field: string;

  constructor(code: AuditEntryErrorCode, field: string, message: string) {
    super(`${code}: ${field} ${message}`);
    this.code = code;
    this.field = field;
  }
}

const encodeCrockford = (value: bigint): string => {
  let text = '';
  let rest = value;
  for (let index = 0; index < ID_BODY_CHARS; index += 1) {
    text = `${CROCKFORD_ALPHABET[Number(rest & 0x1fn)] ?? ''}${text}`;
    rest >>= BITS_PER_CHAR;
  }

  return text;
};

/**
 * A new audit id made at `now`: `aud_` then 26 characters that sort by time to the
 * millisecond. Throws `auditEntry.invalidTime` for a date outside the 48-bit range.
 */
export const newAuditId = (now: Date = new Date()): string => {
  const timeMs = now.getTime();
  if (!Number.isInteger(timeMs) || timeMs < 0 || timeMs > MAX_ID_TIME_MS) {
    throw new AuditEntryError('auditEntry.invalidTime', 'now', 'is not a date an id can hold');
  }
  const random = BigInt(`0x${randomBytes(RANDOM_BYTES).toString('hex')}`);

  return `${AUDIT_ID_PREFIX}${encodeCrockford((BigInt(timeMs) << RANDOM_BITS) | random)}`;
};

/** Whether `value` has the form of an audit id (upper-case Crockford base32 only). */
export const isAuditId = (value: unknown): value is string =>
  typeof value === 'string' && AUDIT_ID_PATTERN.test(value);

/**
 * The chain an entry belongs to: the first four bytes of the SHA-256 of its id, modulo
 * `AUDIT_CHAIN_COUNT`. A hash rather than the id's own random bits, so that the spread stays
 * even whatever generated the id, and the answer never changes for a given id.
 */
export const auditChainOf = (auditId: string): number => {
  if (!isAuditId(auditId)) {
    throw new AuditEntryError('auditEntry.invalidId', 'auditId', 'is not an audit id');
  }
  const digest = createHash('sha256').update(auditId).digest();

  return digest.readUInt32BE(0) % AUDIT_CHAIN_COUNT;
};

const requireText = (
  value: unknown,
  field: string,
  maxChars: number,
  code: AuditEntryErrorCode,
): string => {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxChars) {
    throw new AuditEntryError(code, field, `must be a string of 1 to ${maxChars} characters`);
  }

  return value;
};

const checkDetailValue = (key: string, value: unknown): AuditDetailValue => {
  const field = `details.${key}`;
  if (value === null || typeof value === 'boolean') {
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new AuditEntryError('auditEntry.invalidDetail', field, 'must be a finite number');
    }

    return value;
  }
  if (typeof value === 'string') {
    if (value.length > MAX_AUDIT_DETAIL_STRING_CHARS) {
      throw new AuditEntryError(
        'auditEntry.invalidDetail',
        field,
        `must be at most ${MAX_AUDIT_DETAIL_STRING_CHARS} characters`,
      );
    }

    return value;
  }

  throw new AuditEntryError(
    'auditEntry.invalidDetail',
    field,
    'must be a string, a number, a boolean or null',
  );
};

/** A plain copy of the details, so that a later change to the caller's object changes nothing. */
const checkDetails = (
  details: AuditEntryInput['details'],
): Readonly<Record<string, AuditDetailValue>> => {
  if (details === undefined) {
    return {};
  }
  if (typeof details !== 'object' || details === null || Array.isArray(details)) {
    throw new AuditEntryError('auditEntry.invalidDetail', 'details', 'must be an object');
  }
  const keys = Object.keys(details);
  if (keys.length > MAX_AUDIT_DETAIL_KEYS) {
    throw new AuditEntryError(
      'auditEntry.tooManyDetails',
      'details',
      `may hold at most ${MAX_AUDIT_DETAIL_KEYS} keys, not ${keys.length}`,
    );
  }

  const copy: Record<string, AuditDetailValue> = {};
  for (const key of keys) {
    if (key.length > MAX_AUDIT_DETAIL_KEY_CHARS || !DETAIL_KEY_PATTERN.test(key)) {
      throw new AuditEntryError(
        'auditEntry.invalidDetail',
        'details',
        `has a key that is not a word of letters, digits, "_", "." or "-" (at most ` +
          `${MAX_AUDIT_DETAIL_KEY_CHARS} characters)`,
      );
    }
    copy[key] = checkDetailValue(key, details[key]);
  }

  return copy;
};

const checkResource = (resource: AuditEntryInput['resource']): UnsealedAuditEntry['resource'] => {
  if (resource === undefined) {
    return null;
  }
  if (typeof resource !== 'object' || resource === null) {
    throw new AuditEntryError('auditEntry.invalidResource', 'resource', 'must be an object');
  }
  const type = requireText(
    resource.type,
    'resource.type',
    MAX_AUDIT_RESOURCE_CHARS,
    'auditEntry.invalidResource',
  );
  const id = requireText(
    resource.id,
    'resource.id',
    MAX_AUDIT_RESOURCE_CHARS,
    'auditEntry.invalidResource',
  );

  return { type, id };
};

const checkService = (service: unknown): ServiceName => {
  if (typeof service !== 'string' || !(SERVICE_NAMES as readonly string[]).includes(service)) {
    throw new AuditEntryError(
      'auditEntry.invalidService',
      'service',
      `must be one of ${SERVICE_NAMES.join(', ')}`,
    );
  }

  return service as ServiceName;
};

const checkOperation = (operation: unknown): string => {
  const text = requireText(
    operation,
    'operation',
    MAX_AUDIT_OPERATION_CHARS,
    'auditEntry.invalidOperation',
  );
  if (!AUDIT_OPERATION_PATTERN.test(text)) {
    throw new AuditEntryError(
      'auditEntry.invalidOperation',
      'operation',
      'must be dotted lower-case words, such as task.create',
    );
  }

  return text;
};

const checkOutcome = (outcome: unknown): AuditOutcome => {
  if (!OUTCOMES.includes(outcome as AuditOutcome)) {
    throw new AuditEntryError(
      'auditEntry.invalidOutcome',
      'outcome',
      `must be one of ${OUTCOMES.join(', ')}`,
    );
  }

  return outcome as AuditOutcome;
};

/**
 * A new, unsealed audit entry for `input`, made at `now`. Every field is checked here, where the
 * writer can still be blamed, because once sealed an entry can no longer be corrected. Throws an
 * `AuditEntryError` naming the field.
 */
export const newAuditEntry = (
  input: AuditEntryInput,
  now: Date = new Date(),
): UnsealedAuditEntry => {
  const service = checkService(input.service);
  const operation = checkOperation(input.operation);
  const identity = requireText(
    input.identity,
    'identity',
    MAX_AUDIT_IDENTITY_CHARS,
    'auditEntry.invalidIdentity',
  );
  const outcome = checkOutcome(input.outcome);
  const requestId = requireText(
    input.requestId,
    'requestId',
    MAX_AUDIT_REQUEST_ID_CHARS,
    'auditEntry.invalidRequestId',
  );
  const resource = checkResource(input.resource);
  const details = checkDetails(input.details);

  // The id and the timestamp come from the same instant, so that sorting by either agrees.
  const auditId = newAuditId(now);

  return {
    audit_id: auditId,
    timestamp: now.toISOString(),
    service,
    operation,
    identity,
    outcome,
    request_id: requestId,
    resource,
    details,
  };
};
