/** `GET /.well-known/jwks.json`: the public keys of the gateway's tokens, retired ones included. */
import { tokenKeySource } from '@shared/identity/token-keys';
import { toJwks } from '@shared/identity/tokens/jwks';
import { httpRoute } from '@shared/lambda/http-route';
import { json } from '@shared/lambda/responses';

/** Verifiers may cache the set this long; a rotated-in key is published before it signs. */
const JWKS_MAX_AGE_SECONDS = 300;

export const handler = httpRoute('getJwks', {
  handle: async () => {
    const jwks = await toJwks(await tokenKeySource().publishedKeys());

    return json(200, jwks, { 'Cache-Control': `public, max-age=${JWKS_MAX_AGE_SECONDS}` });
  },
});
