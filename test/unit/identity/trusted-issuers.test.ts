import { describe, expect, it } from 'vitest';
import { ConfigurationError } from '@shared/config';
import { createTokenVerifier } from '@shared/identity/tokens/token-verifier';
import { parseTrustedIssuers } from '@shared/identity/tokens/trusted-issuers';

const cognito = {
  issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example',
  audience: '3abc4def5ghi',
  audienceClaim: 'client_id',
  jwksUri: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example/.well-known/jwks.json',
  algorithms: ['RS256'],
};

const parsing = (value: unknown) => () => parseTrustedIssuers(JSON.stringify(value));

describe('parseTrustedIssuers', () => {
  it('reads a list of issuer configurations', () => {
    const okta = {
      issuer: 'https://example.okta.com/oauth2/default',
      audience: ['api://blux', 'api://blux-staging'],
      jwksUri: 'https://example.okta.com/oauth2/default/v1/keys',
      algorithms: ['RS256', 'ES256'],
      scopeClaim: 'scp',
      requireTyp: 'application/okta-internal-at+jwt',
    };

    expect(parseTrustedIssuers(JSON.stringify([cognito, okta]))).toEqual([cognito, okta]);
  });

  it('reads an unset or blank variable as no trusted issuer', () => {
    expect(parseTrustedIssuers(undefined)).toEqual([]);
    expect(parseTrustedIssuers('  ')).toEqual([]);
  });

  it('names the variable when the value is not JSON', () => {
    expect(() => parseTrustedIssuers('[{issuer:')).toThrow(ConfigurationError);
    expect(() => parseTrustedIssuers('[{issuer:')).toThrow(
      /BLUX_TRUSTED_ISSUERS is not valid JSON/,
    );
  });

  it.each([
    ['an object instead of a list', cognito, /expected array/i],
    ['HMAC among the algorithms', [{ ...cognito, algorithms: ['HS256'] }], /\[0\.algorithms\.0\]/],
    ['none among the algorithms', [{ ...cognito, algorithms: ['none'] }], /\[0\.algorithms\.0\]/],
    ['no algorithm at all', [{ ...cognito, algorithms: [] }], /\[0\.algorithms\]/],
    ['a missing audience', [{ ...cognito, audience: undefined }], /\[0\.audience\]/],
    ['an empty audience list', [{ ...cognito, audience: [] }], /\[0\.audience\]/],
    ['a misspelt field', [{ ...cognito, jwks_uri: cognito.jwksUri }], /jwks_uri/],
    ['an unknown scope claim', [{ ...cognito, scopeClaim: 'roles' }], /\[0\.scopeClaim\]/],
    ['a JWKS over plain http', [{ ...cognito, jwksUri: 'http://idp.example/jwks' }], /https/],
    ['a JWKS URI that is no URL', [{ ...cognito, jwksUri: 'jwks.json' }], /\[0\.jwksUri\]/],
    ['the same issuer twice', [cognito, cognito], /\[1\.issuer\] appears twice/],
  ])('refuses %s, naming the field', (_label, value, message) => {
    expect(parsing(value)).toThrow(ConfigurationError);
    expect(parsing(value)).toThrow(message);
  });

  it('allows plain http for a JWKS on a loopback address only', () => {
    for (const jwksUri of [
      'http://127.0.0.1:9000/jwks',
      'http://localhost/jwks',
      'http://[::1]/k',
    ]) {
      expect(parsing([{ ...cognito, jwksUri }])).not.toThrow();
    }
    expect(parsing([{ ...cognito, jwksUri: 'http://127.0.0.1.example/jwks' }])).toThrow(/https/);
  });
});

describe('createTokenVerifier configuration', () => {
  const own = { issuer: 'https://gateway.blux.test', audience: 'blux', keys: async () => [] };

  it('refuses a trusted issuer that claims the gateway’s own issuer', () => {
    const trustedIssuers = [{ ...cognito, audienceClaim: 'aud' as const, issuer: own.issuer }];

    expect(() => createTokenVerifier({ ...own, trustedIssuers } as never)).toThrow(
      /own issuer cannot be a trusted issuer/,
    );
  });

  it('checks trusted issuers given in code as strictly as those from the environment', () => {
    const trustedIssuers = [{ ...cognito, algorithms: ['HS256'] }];

    expect(() => createTokenVerifier({ ...own, trustedIssuers } as never)).toThrow(
      ConfigurationError,
    );
  });
});
