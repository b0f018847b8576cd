/**
 * Matches a method and path against the declared routes the way API Gateway does: `{name}`
 * stands for one path segment, `{name+}` for the rest of the path, and a request no route
 * matches goes to `$default`.
 */
import { ROUTES, type HttpMethod, type RouteDeclaration } from './routes';

interface CompiledRoute {
  readonly route: RouteDeclaration;
  readonly pattern: RegExp;
  readonly parameterNames: readonly string[];
}

export interface RouteMatch {
  readonly route: RouteDeclaration;
  readonly pathParameters: Readonly<Record<string, string>>;
}

const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const compile = (route: RouteDeclaration): CompiledRoute => {
  const parameterNames: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      const parameter = /^\{([A-Za-z0-9_]+)(\+?)\}$/.exec(segment);
      if (parameter === null) {
        return escapeRegExp(segment);
      }
      parameterNames.push(parameter[1] ?? '');

      return parameter[2] === '+' ? '(.+)' : '([^/]+)';
    })
    .join('/');

  return { route, pattern: new RegExp(`^${source}$`), parameterNames };
};

const decode = (value: string): string => {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
};

/** Compiles a list of routes once; the result answers matches without further work. */
export const createRouteMatcher = (routes: readonly RouteDeclaration[]) => {
  const compiled = routes.filter((route) => route.method !== null).map(compile);
  const fallback = routes.find((route) => route.method === null);

  const match = (method: string, path: string): RouteMatch | undefined => {
    for (const candidate of compiled) {
      const found = candidate.route.method === method ? candidate.pattern.exec(path) : null;
      if (found !== null) {
        const pathParameters: Record<string, string> = {};
        candidate.parameterNames.forEach((name, index) => {
          pathParameters[name] = decode(found[index + 1] ?? '');
        });

        return { route: candidate.route, pathParameters };
      }
    }

    return fallback === undefined ? undefined : { route: fallback, pathParameters: {} };
  };

  const allowedMethods = (path: string): HttpMethod[] =>
    compiled
      .filter((candidate) => candidate.pattern.test(path))
      .map((candidate) => candidate.route.method)
      .filter((method): method is HttpMethod => method !== null);

  return { match, allowedMethods };
};

const catalogMatcher = createRouteMatcher(ROUTES);

/** The methods the catalog declares for a path, for `405 Method Not Allowed` and `Allow`. */
export const allowedMethods = (path: string): HttpMethod[] => catalogMatcher.allowedMethods(path);

export const matchRoute = (method: string, path: string): RouteMatch | undefined =>
  catalogMatcher.match(method, path);
