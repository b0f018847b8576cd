import { describe, expect, it } from 'vitest';
import { createRouteMatcher } from '@shared/catalog/route-matcher';
import type { RouteDeclaration } from '@shared/catalog/routes';

const route = (id: string, method: RouteDeclaration['method'], path: string): RouteDeclaration => ({
  id,
  method,
  path,
  handler: `functions/${id}.ts`,
  service: 'blux-lite',
  access: 'public',
  scopes: [],
  tables: {},
});

const matcher = createRouteMatcher([
  route('createTask', 'POST', '/v1/tasks'),
  route('getTask', 'GET', '/v1/tasks/{task_id}'),
  route('getFile', 'GET', '/files/{path+}'),
  route('fallback', null, '$default'),
]);

describe('the route matcher', () => {
  it('matches a literal path with its method', () => {
    expect(matcher.match('POST', '/v1/tasks')?.route.id).toBe('createTask');
  });

  it('extracts and decodes a path parameter from one segment', () => {
    const found = matcher.match('GET', '/v1/tasks/task%20one');

    expect(found?.route.id).toBe('getTask');
    expect(found?.pathParameters).toEqual({ task_id: 'task one' });
  });

  it('lets a greedy parameter take the rest of the path', () => {
    expect(matcher.match('GET', '/files/a/b/c')?.pathParameters).toEqual({ path: 'a/b/c' });
  });

  it('sends a path with more segments, a trailing slash or another method to $default', () => {
    expect(matcher.match('GET', '/v1/tasks/a/b')?.route.id).toBe('fallback');
    expect(matcher.match('POST', '/v1/tasks/')?.route.id).toBe('fallback');
    expect(matcher.match('GET', '/v1/tasks')?.route.id).toBe('fallback');
  });

  it('lists the methods declared for a path', () => {
    expect(matcher.allowedMethods('/v1/tasks')).toEqual(['POST']);
    expect(matcher.allowedMethods('/nowhere')).toEqual([]);
  });
});
