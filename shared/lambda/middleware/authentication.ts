/**
 * The authentication step: resolves the caller, then holds it to the route's scopes. A caller
 * without valid credentials gets 401; one without every scope the route declares gets 403.
 */
import type { RouteDeclaration } from '@shared/catalog/routes';
import { ForbiddenError, UnauthorizedError } from '@shared/errors/gateway-error';
import type { Authenticator, ClientCertificate } from '@shared/identity/authenticator';
import { missingScopes } from '@shared/identity/scopes';
import { recordMetric } from '@shared/metrics/metrics';
import type { HttpEvent, HttpMiddleware } from '../types';

interface CertificateContext {
  readonly authentication?: { readonly clientCert?: ClientCertificate };
}

/** The client certificate API Gateway attaches to a request over a mutual-TLS domain. */
export const clientCertificateOf = (event: HttpEvent): ClientCertificate | undefined =>
  (event.requestContext as CertificateContext).authentication?.clientCert;

export const authentication = (
  route: RouteDeclaration,
  authenticator: () => Authenticator,
): HttpMiddleware => ({
  before: async (request) => {
    const event = request.event;
    const identity = await authenticator()
      .authenticate({
        authorization: event.headers.authorization,
        certificate: clientCertificateOf(event),
      })
      .catch((error: unknown) => {
        // The reasons are the gateway's own fixed words, so they make a bounded dimension.
        if (error instanceof UnauthorizedError) {
          recordMetric('AuthenticationFailures', 1, { reason: error.reason });
        }
        throw error;
      });
    const missing = missingScopes(identity.scopes, route.scopes);
    event.blux.identity = identity;
    if (missing.length > 0) {
      throw new ForbiddenError(route.scopes, missing);
    }
  },
});
