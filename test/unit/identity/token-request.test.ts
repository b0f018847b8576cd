import { describe, expect, it } from 'vitest';
import { OAuthError } from '@shared/errors/oauth-error';
import { parseTokenRequest } from '@shared/identity/token-request';

const basic = (id: string, secret: string): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

const oauthCode = (run: () => unknown): string | undefined => {
  try {
    run();
  } catch (error) {
    return error instanceof OAuthError ? error.oauthCode : `not OAuth: ${String(error)}`;
  }

  return undefined;
};

describe('parseTokenRequest', () => {
  it('reads credentials and scopes from the body', () => {
    const request = parseTokenRequest(
      {
        grant_type: 'client_credentials',
        client_id: 'billing',
        client_secret: 's3cret',
        scope: 'tasks:read  tasks:write',
      },
      undefined,
    );

    expect(request).toEqual({
      clientId: 'billing',
      clientSecret: 's3cret',
      scopes: ['tasks:read', 'tasks:write'],
      authentication: 'body',
    });
  });

  it('reads form-encoded HTTP Basic credentials (RFC 6749 §2.3.1)', () => {
    const request = parseTokenRequest(
      { grant_type: 'client_credentials' },
      basic('my client', 'p:a%ss+word'),
    );

    expect(request).toMatchObject({
      clientId: 'my client',
      clientSecret: 'p:a%ss+word',
      scopes: undefined,
      authentication: 'basic',
    });
  });

  it('refuses a missing grant_type as invalid_request and another grant as unsupported', () => {
    expect(
      oauthCode(() => parseTokenRequest({ client_id: 'a', client_secret: 'b' }, undefined)),
    ).toBe('invalid_request');
    expect(
      oauthCode(() =>
        parseTokenRequest(
          { grant_type: 'password', client_id: 'a', client_secret: 'b' },
          undefined,
        ),
      ),
    ).toBe('unsupported_grant_type');
  });

  it('refuses credentials sent two ways', () => {
    expect(
      oauthCode(() =>
        parseTokenRequest(
          { grant_type: 'client_credentials', client_secret: 'b' },
          basic('a', 'b'),
        ),
      ),
    ).toBe('invalid_request');
  });

  it('refuses a repeated or non-string parameter', () => {
    expect(
      oauthCode(() =>
        parseTokenRequest(
          { grant_type: 'client_credentials', client_id: ['a', 'b'], client_secret: 'x' },
          undefined,
        ),
      ),
    ).toBe('invalid_request');
    expect(
      oauthCode(() =>
        parseTokenRequest({ grant_type: 'client_credentials', client_id: 7 }, undefined),
      ),
    ).toBe('invalid_request');
  });

  it('answers missing or malformed client credentials with invalid_client', () => {
    expect(
      oauthCode(() => parseTokenRequest({ grant_type: 'client_credentials' }, undefined)),
    ).toBe('invalid_client');
    expect(
      oauthCode(() => parseTokenRequest({ grant_type: 'client_credentials' }, 'Basic !!!')),
    ).toBe('invalid_client');
  });

  it('refuses a scope that is not an exact known word', () => {
    const ask = (scope: string) => () =>
      parseTokenRequest(
        { grant_type: 'client_credentials', client_id: 'a', client_secret: 'b', scope },
        undefined,
      );

    expect(oauthCode(ask('tasks:writer'))).toBe('invalid_scope');
    expect(oauthCode(ask('TASKS:READ'))).toBe('invalid_scope');
    expect(oauthCode(ask('   '))).toBe('invalid_scope');
  });
});
