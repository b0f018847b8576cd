/**
 * Verifies the bearer token of every request and says who is calling: the gateway's own access
 * tokens name a service (`service:<client_id>`), a trusted issuer's tokens name a user
 * (`user:<sub>`).
 *
 * The checks run from cheapest to dearest, and the token never chooses how it is checked: size;
 * the cache of tokens verified before; the header's `alg` against every algorithm configured
 * anywhere (so `none` and HMAC end before anything else); headers that would make the token
 * pick its own key; the `kid`'s form; the claims' types; the issuer and its pinned algorithms;
 * and only then the key lookup and the signature. aws-jwt-verify checks signature, `iss`,
 * `aud`, `exp` and `nbf`; the gateway adds the rest.
 *
 * `jku`, `x5u`, `jwk` and `x5c` are refused rather than ignored: no issuer the gateway trusts
 * sends them, so a token that carries one is an attempt to choose its own key, and a refusal
 * with its own reason shows up in the logs where silently ignoring it would not. `crit` is
 * refused too, as RFC 7515 asks of a verifier that understands no extension.
 */
import type { JsonWebKey } from 'node:crypto';
import { JwtVerifier } from 'aws-jwt-verify';
import { NonRetryableFetchError } from 'aws-jwt-verify/error';
import type { Fetcher } from 'aws-jwt-verify/https';
import { SimpleJwksCache, type Jwks } from 'aws-jwt-verify/jwk';
import { ConfigurationError } from '@shared/config';
import { ServiceUnavailableError } from '@shared/errors/gateway-error';
import { serviceIdentity, userIdentity, type Identity } from '@shared/identity/identity';
import { parseScopes } from '@shared/identity/scopes';
import { createJwksFetcher } from './jwks-fetcher';
import { toPublishedJwk } from './jwks';
import { jwkThumbprint, TOKEN_SIGNING_ALG } from './signing-key';
import {
  checkSignatureSize,
  checkTokenSize,
  decodeToken,
  isString,
  isStringList,
  typMatches,
  type TokenClaims,
  type UnverifiedToken,
} from './token-decoding';
import {
  KEYS_RETRY_AFTER_SECONDS,
  rejectToken as reject,
  toVerificationError,
} from './token-failures';
import { ACCESS_TOKEN_TYP } from './token-issuer';
import { checkTrustedIssuers, type TrustedIssuerConfig } from './trusted-issuers';
import { createVerifiedTokenCache } from './verified-token-cache';

export { MAX_KID_CHARS, MAX_TOKEN_BYTES } from './token-decoding';
export { TOKEN_FAILURE_REASONS, type TokenFailureReason } from './token-failures';

/** How far the clocks of issuer and verifier may disagree, for `exp`, `nbf` and `iat`. */
export const MAX_CLOCK_SKEW_SECONDS = 60;

/**
 * After a reload of the gateway's own keys that did not find a token's `kid`, further unknown
 * kids wait this long for the next reload, so that made-up kids cost one reload per period.
 */
export const KEY_REFRESH_BACKOFF_MS = 10_000;

export interface TokenVerifierConfig {
  /** The gateway's own issuer, the `iss` of the tokens the token endpoint issues. */
  readonly issuer: string;
  readonly audience: string;
  /**
   * The gateway's published keys (the ring's or the KMS key's JWKS). They are read at the first
   * token and again when a token names a kid not seen yet; never fetched over the network.
   */
  readonly keys: () => Promise<readonly JsonWebKey[]>;
  readonly trustedIssuers?: readonly TrustedIssuerConfig[];
}

export interface TokenVerifier {
  /** The identity a valid token vouches for; anything else throws `UnauthorizedError`. */
  verify(token: string): Promise<Identity>;
  /** Reloads the gateway's own keys now: at start, to be warm, or right after a rotation. */
  refreshKeys(): Promise<void>;
}

/** What the verifier knows of one issuer. */
interface IssuerRoute {
  readonly algorithms: ReadonlySet<string>;
  /** Checks that need the issuer: `typ`, the kid's form, the claims it requires. */
  check(token: UnverifiedToken): void;
  /** Checks signature, `iss`, `aud`, `exp` and `nbf`; throws when one fails. */
  verify(jwt: string, token: UnverifiedToken): Promise<void>;
  identity(claims: TokenClaims): Identity;
}

/** The gateway's own kids are RFC 7638 thumbprints: 43 base64url characters. */
const OWN_KID = /^[A-Za-z0-9_-]{43}$/;
/** A stand-in for the own issuer's JWKS URI: the key cache needs one, nothing fetches it. */
const OWN_JWKS_URI = 'urn:blux:own-token-keys';

const checkIssuedAt = (claims: TokenClaims, nowMs: number): void => {
  if (claims.iat !== undefined && claims.iat - MAX_CLOCK_SKEW_SECONDS > nowMs / 1000) {
    throw reject('not_yet_valid');
  }
};

const isP256 = (jwk: JsonWebKey): boolean =>
  jwk.kty === 'EC' && jwk.crv === 'P-256' && isString(jwk.x) && isString(jwk.y);

/** The key source's keys as the JWKS the verifier caches, public members only. */
const toVerifierJwks = (keys: readonly JsonWebKey[]): Jwks => ({
  keys: keys
    .filter(isP256)
    .map((jwk) => toPublishedJwk(jwk, isString(jwk.kid) ? jwk.kid : jwkThumbprint(jwk))),
});

/**
 * The gateway's own key ids, reloaded from the key source when a token names one not seen yet
 * (a key rotated in since the last load). Reloads are shared by concurrent requests.
 */
const createOwnKeySet = (
  source: () => Promise<readonly JsonWebKey[]>,
  install: (jwks: Jwks) => void,
) => {
  let known = new Set<string>();
  let loaded = false;
  let loading: Promise<void> | undefined;
  let missedAtMs = Number.NEGATIVE_INFINITY;

  const load = async (): Promise<void> => {
    let jwks: Jwks;
    try {
      jwks = toVerifierJwks(await source());
    } catch (error) {
      throw new ServiceUnavailableError(
        'The token keys are unavailable.',
        KEYS_RETRY_AFTER_SECONDS,
        error,
      );
    }
    install(jwks);
    known = new Set(jwks.keys.map((jwk) => String(jwk.kid)));
    loaded = true;
  };

  const refresh = (): Promise<void> => {
    loading ??= load().finally(() => {
      loading = undefined;
    });

    return loading;
  };

  const has = async (kid: string): Promise<boolean> => {
    if (known.has(kid)) {
      return true;
    }
    if (loaded && Date.now() - missedAtMs < KEY_REFRESH_BACKOFF_MS) {
      return false;
    }

    await refresh();
    if (known.has(kid)) {
      return true;
    }
    missedAtMs = Date.now();

    return false;
  };

  return { has, refresh };
};

/** Nothing fetches the own issuer's keys; this makes sure of it. */
const refusingFetcher: Fetcher = {
  fetch: async (uri) => {
    throw new NonRetryableFetchError(uri, 'the gateway never fetches its own keys');
  },
};

const createOwnRoute = (config: TokenVerifierConfig) => {
  const verifier = JwtVerifier.create(
    {
      issuer: config.issuer,
      audience: config.audience,
      jwksUri: OWN_JWKS_URI,
      graceSeconds: MAX_CLOCK_SKEW_SECONDS,
    },
    { jwksCache: new SimpleJwksCache({ fetcher: refusingFetcher }) },
  );
  const keys = createOwnKeySet(config.keys, (jwks) => verifier.cacheJwks(jwks));

  const route: IssuerRoute = {
    algorithms: new Set([TOKEN_SIGNING_ALG]),
    check: ({ header, kid, claims }) => {
      if (!OWN_KID.test(kid)) {
        throw reject('invalid_kid');
      }
      if (!typMatches(header.typ, ACCESS_TOKEN_TYP)) {
        throw reject('wrong_typ');
      }
      // RFC 9068 for client credentials: the subject is the client itself.
      const clientId = claims.client_id;
      if (!isString(clientId) || clientId === '' || claims.sub !== clientId) {
        throw reject('invalid_claims');
      }
      if (!isString(claims.jti) || !isString(claims.scope)) {
        throw reject('invalid_claims');
      }
    },
    verify: async (jwt, { kid }) => {
      if (!(await keys.has(kid))) {
        throw reject('unknown_kid');
      }
      // The synchronous form reads the cached JWKS only: it cannot fetch anything.
      verifier.verifySync(jwt);
    },
    identity: (claims) => ({
      id: serviceIdentity(claims.sub),
      kind: 'service',
      subject: claims.sub,
      scopes: parseScopes(claims.scope),
      method: 'bearer',
      issuer: config.issuer,
      expiresAt: claims.exp,
      ...(claims.jti === undefined ? {} : { tokenId: claims.jti }),
    }),
  };

  return { route, refresh: keys.refresh };
};

const scopesOf = (value: unknown): string[] => {
  if (isString(value)) {
    return parseScopes(value);
  }

  return isStringList(value) ? value.filter((scope) => scope !== '') : [];
};

const createTrustedRoute = (config: TrustedIssuerConfig, jwksCache: SimpleJwksCache) => {
  const audiences = isString(config.audience) ? [config.audience] : [...config.audience];
  const byClientId = config.audienceClaim === 'client_id';
  const scopeClaim = config.scopeClaim ?? 'scope';
  const verifier = JwtVerifier.create(
    {
      issuer: config.issuer,
      audience: byClientId ? null : audiences,
      jwksUri: config.jwksUri,
      graceSeconds: MAX_CLOCK_SKEW_SECONDS,
    },
    { jwksCache },
  );

  const route: IssuerRoute = {
    algorithms: new Set(config.algorithms),
    check: ({ header, claims }) => {
      if (config.requireTyp !== undefined && !typMatches(header.typ, config.requireTyp)) {
        throw reject('wrong_typ');
      }
      // `scope` was checked with the other claims; `scp` may also be a list (Okta, Entra ID).
      const scp = claims.scp;
      if (scopeClaim === 'scp' && scp !== undefined && !isString(scp) && !isStringList(scp)) {
        throw reject('invalid_claims');
      }
      if (byClientId && !isString(claims.client_id)) {
        throw reject('invalid_claims');
      }
    },
    verify: async (jwt, { claims }) => {
      await verifier.verify(jwt);
      if (byClientId && !audiences.includes(String(claims.client_id))) {
        throw reject('wrong_audience');
      }
    },
    identity: (claims) => ({
      id: userIdentity(claims.sub),
      kind: 'user',
      subject: claims.sub,
      scopes: scopesOf(claims[scopeClaim]),
      method: 'bearer',
      issuer: config.issuer,
      expiresAt: claims.exp,
      ...(claims.jti === undefined ? {} : { tokenId: claims.jti }),
    }),
  };

  return route;
};

/**
 * A verifier for the gateway's own tokens and those of `trustedIssuers`. Throws a
 * `ConfigurationError` when a trusted issuer is misconfigured or claims the gateway's issuer.
 */
export const createTokenVerifier = (config: TokenVerifierConfig): TokenVerifier => {
  const trusted = checkTrustedIssuers(config.trustedIssuers ?? []);
  if (trusted.some(({ issuer }) => issuer === config.issuer)) {
    throw new ConfigurationError(
      "config.invalidTrustedIssuers: the gateway's own issuer cannot be a trusted issuer",
    );
  }

  const own = createOwnRoute(config);
  const jwksCache = new SimpleJwksCache({ fetcher: createJwksFetcher() });
  const routes = new Map<string, IssuerRoute>([
    [config.issuer, own.route],
    ...trusted.map((issuer): [string, IssuerRoute] => [
      issuer.issuer,
      createTrustedRoute(issuer, jwksCache),
    ]),
  ]);
  const algorithms = new Set([...routes.values()].flatMap((route) => [...route.algorithms]));
  const cache = createVerifiedTokenCache();

  const verifyUncached = async (jwt: string): Promise<Identity> => {
    const token = decodeToken(jwt, algorithms);
    const route = routes.get(token.claims.iss);
    if (route === undefined) {
      throw reject('wrong_issuer');
    }
    // Pinned per issuer: a key an issuer publishes only ever verifies that issuer's algorithms.
    if (!route.algorithms.has(token.alg)) {
      throw reject('unsupported_alg');
    }
    checkSignatureSize(token);
    route.check(token);

    await route.verify(jwt, token);
    checkIssuedAt(token.claims, Date.now());

    return route.identity(token.claims);
  };

  return {
    verify: async (token) => {
      const jwt = checkTokenSize(token);
      const nowMs = Date.now();
      const cached = cache.lookup(jwt, nowMs);
      if (cached.found === 'valid') {
        return cached.identity;
      }
      if (cached.found === 'expired') {
        throw reject('expired');
      }

      let identity: Identity;
      try {
        identity = await verifyUncached(jwt);
      } catch (error) {
        throw toVerificationError(error);
      }
      const validUntilMs = ((identity.expiresAt ?? 0) + MAX_CLOCK_SKEW_SECONDS) * 1000;
      cache.remember(jwt, identity, validUntilMs, nowMs);

      return identity;
    },
    refreshKeys: own.refresh,
  };
};
