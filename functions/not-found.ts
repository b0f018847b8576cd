/**
 * The `$default` route: whatever no declared route matches. A path that exists under another
 * method is 405 with `Allow`; anything else is 404. API Gateway and the local runtime both send
 * unmatched requests here, so they answer alike.
 */
import { allowedMethods } from '@shared/catalog/route-matcher';
import { MethodNotAllowedError, NotFoundError } from '@shared/errors/gateway-error';
import { httpRoute } from '@shared/lambda/http-route';

export const handler = httpRoute('notFound', {
  handle: async ({ event }) => {
    const method = event.requestContext.http.method;
    const allowed = allowedMethods(event.rawPath);
    if (allowed.length > 0) {
      throw new MethodNotAllowedError(method, allowed);
    }

    throw new NotFoundError(`No route matches ${method} ${event.rawPath}.`, {
      method,
      path: event.rawPath,
    });
  },
});
