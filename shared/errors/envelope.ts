import { ERROR_CODES, type ErrorCode, type GatewayError } from './gateway-error';

/** The BLUX API's error envelope, the only shape an error ever reaches a client in. */
export interface ErrorEnvelope {
  readonly error: {
    readonly code: ErrorCode;
    readonly message: string;
    readonly details: Readonly<Record<string, unknown>>;
    readonly audit_id: string | null;
    readonly timestamp: string;
  };
}

const GENERIC_INTERNAL_MESSAGE = 'The gateway failed to handle the request.';

/** The envelope for a gateway error; a 5xx never shows its own message or details. */
export const toEnvelope = (error: GatewayError, now: Date = new Date()): ErrorEnvelope => ({
  error: {
    code: error.code,
    message: error.expose ? error.message : publicMessage(error.code),
    details: error.expose || error.code === 'SERVICE_UNAVAILABLE' ? error.details : {},
    audit_id: error.auditId ?? null,
    timestamp: now.toISOString(),
  },
});

const publicMessage = (code: ErrorCode): string =>
  code === 'SERVICE_UNAVAILABLE'
    ? 'A service the gateway depends on is unavailable; retry later.'
    : GENERIC_INTERNAL_MESSAGE;

/** The envelope for anything that is not a gateway error: a generic INTERNAL, nothing more. */
export const internalEnvelope = (now: Date = new Date()): ErrorEnvelope => ({
  error: {
    code: 'INTERNAL',
    message: GENERIC_INTERNAL_MESSAGE,
    details: {},
    audit_id: null,
    timestamp: now.toISOString(),
  },
});

export const INTERNAL_STATUS = ERROR_CODES.INTERNAL;
