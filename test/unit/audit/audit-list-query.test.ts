import { describe, expect, it } from 'vitest';
import { auditListQuerySchema } from '@shared/audit/audit-listing';
import { ValidationError } from '@shared/errors/gateway-error';
import { parseOrThrow } from '@shared/validation/schema';

describe('the GET /v1/audit query string', () => {
  it.each([
    [{ sinse: '2026-05-01T00:00:00Z' }, ['query.sinse']],
    [{ since: 'yesterday' }, ['query.since']],
    [{ until: '2026-13-01T00:00:00Z' }, ['query.until']],
    [{ since: '2026-05-02T00:00:00Z', until: '2026-05-01T00:00:00Z' }, ['query.since']],
    [{ limit: '0' }, ['query.limit']],
    [{ limit: '501' }, ['query.limit']],
    [{ limit: 'ten' }, ['query.limit']],
    [{ order: 'newest' }, ['query.order']],
    [{ service: 'blux-other' }, ['query.service']],
  ])('refuses %o naming %o', (parameters, fields) => {
    let error: unknown;
    try {
      parseOrThrow(auditListQuerySchema, parameters, 'query');
    } catch (caught) {
      error = caught;
    }

    expect(error).toBeInstanceOf(ValidationError);
    const named = ((error as ValidationError).details.fields as { field: string }[]).map(
      (issue) => issue.field,
    );
    expect(named).toEqual(fields);
  });

  it('accepts the bounds of limit, dates with offsets, and plain dates', () => {
    const query = parseOrThrow(
      auditListQuerySchema,
      { limit: '500', since: '2026-05-01', until: '2026-05-02T02:00:00+02:00', order: 'asc' },
      'query',
    );

    expect(query).toEqual({
      limit: 500,
      since: new Date('2026-05-01T00:00:00.000Z'),
      until: new Date('2026-05-02T00:00:00.000Z'),
      order: 'asc',
    });
  });
});
