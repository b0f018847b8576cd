/**
 * The one structured logger every handler shares (Powertools Logger): a JSON line per entry
 * in AWS, indented JSON in the local runtime (`POWERTOOLS_DEV`, which `npm start` sets). The
 * level comes from `LOG_LEVEL` (`DEBUG`, `INFO`, `WARN`, `ERROR` or `SILENT`), which the
 * stack sets per stage.
 *
 * Every value passes `redactLogValue` on its way out, whoever logged it: credentials under
 * their usual names, bearer and basic credentials, JWTs inside any string, and whole Lambda
 * events never reach a log line. Errors are written with their whole cause chain, and an
 * `AggregateError` with each of its errors.
 */
import { Logger } from '@aws-lambda-powertools/logger';

export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT'] as const;

export type LogLevelName = (typeof LOG_LEVELS)[number];

/** What stands in for a value that must not be logged. */
export const REDACTED = '[redacted]';

/** Keys whose values are credentials whatever they hold, compared in lower case. */
const SECRET_KEYS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'accesstoken',
  'client_secret',
  'clientsecret',
  'secret',
  'password',
  'private_key',
  'privatekey',
  'rawjwt',
]);

/** A compact JWS: three base64url parts, the first two JSON objects (`eyJ` is `{"`). */
const JWT_PATTERN = /eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g;

/** An HTTP credential inside a string: `Bearer <token>` or `Basic <base64>`. */
const CREDENTIAL_PATTERN = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;

/** Keeps a stack readable without letting a deep chain make a megabyte line. */
const MAX_CAUSE_DEPTH = 8;

const scrubString = (value: string): string =>
  value.replace(JWT_PATTERN, '[redacted jwt]').replace(CREDENTIAL_PATTERN, `$1 ${REDACTED}`);

/** An API Gateway, WebSocket or stream event: logged by what it is, never by its content. */
const eventSummary = (value: object): string | undefined => {
  const candidate = value as Record<string, unknown>;
  if (typeof candidate.requestContext === 'object' && candidate.requestContext !== null) {
    const routeKey = typeof candidate.routeKey === 'string' ? ` ${candidate.routeKey}` : '';

    return `[event omitted:${routeKey || ' request'}]`;
  }
  if (Array.isArray(candidate.Records)) {
    return `[event omitted: ${candidate.Records.length} records]`;
  }

  return undefined;
};

const errorFields = (error: Error, depth: number): Record<string, unknown> => {
  const { name, message, stack } = error;
  const code = (error as { code?: unknown }).code;
  const fields: Record<string, unknown> = { name, message: scrubString(message) };
  if (typeof code === 'string' || typeof code === 'number') {
    fields.code = code;
  }
  if (stack !== undefined) {
    fields.stack = scrubString(stack);
  }
  if (error instanceof AggregateError && depth < MAX_CAUSE_DEPTH) {
    fields.errors = error.errors.map((inner: unknown) =>
      inner instanceof Error ? errorFields(inner, depth + 1) : redactLogValue('', inner),
    );
  }
  if (error.cause !== undefined && depth < MAX_CAUSE_DEPTH) {
    fields.cause =
      error.cause instanceof Error
        ? errorFields(error.cause, depth + 1)
        : redactLogValue('', error.cause);
  }

  return fields;
};

/**
 * The value as it may appear in a log line: a credential key's value replaced, JWTs and
 * credentials cut out of strings, an event summarised, an error spelled out with its causes.
 * The logger applies it to every key and value of every entry.
 */
export const redactLogValue = (key: string, value: unknown): unknown => {
  if (SECRET_KEYS.has(key.toLowerCase()) && value !== undefined && value !== null) {
    return REDACTED;
  }
  if (typeof value === 'string') {
    return scrubString(value);
  }
  if (value instanceof Error) {
    return errorFields(value, 0);
  }
  if (typeof value === 'object' && value !== null) {
    return eventSummary(value) ?? value;
  }

  return value;
};

/** The configured level, or `INFO` for a value that is not one of `LOG_LEVELS`. */
export const configuredLogLevel = (value: string | undefined): LogLevelName => {
  const upper = value?.toUpperCase();

  return LOG_LEVELS.find((level) => level === upper) ?? 'INFO';
};

export const logger = new Logger({
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'blux-gateway',
  logLevel: configuredLogLevel(process.env.LOG_LEVEL),
  jsonReplacerFn: redactLogValue,
});
