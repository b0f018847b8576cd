import { describe, expect, it } from 'vitest';
import { ROUTES } from '@shared/catalog/routes';

describe('the routes the rate limiter counts', () => {
  const counted = ROUTES.filter(
    (route) => route.access === 'identified' || route.access === 'client',
  );

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
