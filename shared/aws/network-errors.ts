/** Socket failures that say "the service could not be reached": worth a retry, never a 500. */
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Whether an SDK call failed because the network did, not because the service refused. */
export const isNetworkError = (error: unknown): boolean =>
  error instanceof Error && NETWORK_ERROR_CODES.has(String((error as { code?: unknown }).code));
