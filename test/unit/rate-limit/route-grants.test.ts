import { describe, expect, it } from 'vitest';
import { ROUTES, type RouteDeclaration } from '@shared/catalog/routes';

describe('the routes the rate limiter counts', () => {
  const counted = ROUTES.filter(
    (route: RouteDeclaration) =>
      (route.access === 'identified' || route.access === 'client') && route.rateLimit !== 'exempt',
  );

  it('leave out only the metrics scrape', () => {
    const exempt = ROUTES.filter((route: RouteDeclaration) => route.rateLimit === 'exempt');

    expect(exempt.map((route) => route.id)).toEqual(['getMetrics']);
    expect(exempt.every((route) => !('rateCounters' in route.tables))).toBe(true);
  });

  it('exist', () => {
    expect(counted.map((route) => route.id)).toEqual(
      expect.arrayContaining(['issueToken', 'validateIdentity']),
    );
  });

  it.each(counted.map((route) => [route.id, route] as const))(
    '%s may update the rate counters and read the client registry',
    (_id, route) => {
      const tables: Readonly<Record<string, string>> = route.tables;

      expect(tables.rateCounters).toBe('readWrite');
      expect(['read', 'readWrite']).toContain(tables.clients);
    },
  );
});
