/**
 * Resolves the caller of a request from what it presented: a bearer token, or a client
 * certificate that API Gateway (or the local HTTPS listener) has already checked against the
 * truststore. A bearer token wins when both are present, so that a service behind mTLS can
 * still act with a narrower token.
 */
import { UnauthorizedError } from '@shared/errors/gateway-error';
import { serviceIdentity, type Identity } from './identity';

/** A client certificate as API Gateway hands it to the function. */
export interface ClientCertificate {
  readonly subjectDN: string;
  readonly issuerDN: string;
  readonly serialNumber: string;
}

export interface Credentials {
  /** The `Authorization` header as sent. */
  readonly authorization?: string;
  readonly certificate?: ClientCertificate;
}

/** What the authenticator needs of the token machinery. */
export interface BearerVerifier {
  verify(token: string): Promise<Identity>;
}

/** What the authenticator needs of the client registry. */
export interface CertificateDirectory {
  findByCertificateSubject(
    subjectDN: string,
  ): Promise<{ clientId: string; scopes: readonly string[]; status: string } | undefined>;
}

export interface Authenticator {
  authenticate(credentials: Credentials): Promise<Identity>;
}

/** RFC 6750 §2.1: the scheme is case-insensitive; the token is a token68. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/** The token of an `Authorization: Bearer` header, or `undefined` when there is no header. */
export const bearerToken = (authorization: string | undefined): string | undefined => {
  if (authorization === undefined) {
    return undefined;
  }
  const match = BEARER.exec(authorization.trim());
  if (match?.[1] === undefined) {
    throw new UnauthorizedError('malformed_authorization', 'Send `Authorization: Bearer <token>`.');
  }

  return match[1];
};

export const createAuthenticator = (
  verifier: BearerVerifier,
  directory: CertificateDirectory,
): Authenticator => ({
  authenticate: async (credentials) => {
    const token = bearerToken(credentials.authorization);
    if (token !== undefined) {
      return verifier.verify(token);
    }
    if (credentials.certificate !== undefined) {
      const client = await directory.findByCertificateSubject(credentials.certificate.subjectDN);
      if (client === undefined || client.status !== 'active') {
        throw new UnauthorizedError(
          'unknown_certificate',
          'The client certificate is not registered.',
        );
      }

      return {
        id: serviceIdentity(client.clientId),
        kind: 'service',
        subject: client.clientId,
        scopes: client.scopes,
        method: 'mtls',
        issuer: credentials.certificate.issuerDN,
      };
    }

    throw new UnauthorizedError('missing', 'This route needs a bearer token.');
  },
});
