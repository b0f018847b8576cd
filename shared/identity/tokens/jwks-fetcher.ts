/**
 * Fetches a trusted issuer's JWKS for aws-jwt-verify. The library's own fetcher speaks https
 * only; this one also reaches an issuer on a loopback address over http (a local OIDC provider
 * next to the local runtime), which `checkTrustedIssuers` is the only gate for. It follows no
 * redirect, so that the configured URI is the one that vouches for the keys.
 */
import type { Fetcher } from 'aws-jwt-verify/https';
import { FetchError, NonRetryableFetchError } from 'aws-jwt-verify/error';

export const JWKS_FETCH_TIMEOUT_MS = 3_000;

/** A key set is a few kilobytes; anything much larger is not one. */
export const MAX_JWKS_BYTES = 64 * 1024;

const readBounded = async (uri: string, response: Response): Promise<ArrayBuffer> => {
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > MAX_JWKS_BYTES) {
    throw new NonRetryableFetchError(uri, `the JWKS is larger than ${MAX_JWKS_BYTES} bytes`);
  }
  const body = await response.arrayBuffer();
  if (body.byteLength > MAX_JWKS_BYTES) {
    throw new NonRetryableFetchError(uri, `the JWKS is larger than ${MAX_JWKS_BYTES} bytes`);
  }

  return body;
};

/** A fetcher for `SimpleJwksCache`: one GET with a deadline, 200 only, bounded size. */
export const createJwksFetcher = (): Fetcher => ({
  fetch: async (uri) => {
    let response: Response;
    try {
      response = await globalThis.fetch(uri, {
        redirect: 'error',
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(JWKS_FETCH_TIMEOUT_MS),
      });
    } catch (error) {
      throw new FetchError(uri, error instanceof Error ? error.message : 'the request failed');
    }
    if (response.status !== 200) {
      throw new NonRetryableFetchError(uri, `status ${response.status}, expected 200`);
    }

    return readBounded(uri, response);
  },
});
