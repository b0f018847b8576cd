/**
 * API Gateway's payload 2.0 already lower-cases header names; other callers of a handler (the
 * test fixtures, another integration) may not. Lower-casing once here lets every later step
 * read `content-type` without caring who built the event.
 */
import type { HttpMiddleware } from '../types';

export const headerNormalizer = (): HttpMiddleware => ({
  before: (request) => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.event.headers ?? {})) {
      if (value !== undefined) {
        const key = name.toLowerCase();
        headers[key] = headers[key] === undefined ? value : `${headers[key]},${value}`;
      }
    }
    request.event.headers = headers;
  },
});
