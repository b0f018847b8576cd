import { describe, expect, it } from 'vitest';
import { ServiceUnavailableError } from '@shared/errors/gateway-error';
import { httpRoute } from '@shared/lambda/http-route';
import { MAX_BODY_BYTES } from '@shared/lambda/middleware/body-parser';
import { json } from '@shared/lambda/responses';
import type { RouteDeclaration } from '@shared/catalog/routes';
import { z } from '@shared/validation/schema';
import { httpEvent, jsonBody, lambdaContext } from '@test/fixtures/events';

const echoRoute: RouteDeclaration = {
  id: 'echo',
  method: 'POST',
  path: '/echo',
  handler: 'test/fixtures/none.ts',
  service: 'blux-lite',
  access: 'public',
  scopes: [],
  tables: {},
};

const body = z.object({
  type: z.string().min(1),
  payload: z.object({ count: z.number().int() }),
});

const echo = httpRoute(echoRoute, {
  body,
  handle: async (input) => json(200, { received: input.body }),
});

const post = (requestBody: string | Buffer | undefined, headers: Record<string, string> = {}) =>
  echo(
    httpEvent({
      method: 'POST',
      path: '/echo',
      body: requestBody,
      headers: { 'content-type': 'application/json', ...headers },
    }),
    lambdaContext(),
  );

const errorOf = (result: { body?: string }) =>
  jsonBody(result).error as {
    code: string;
    message: string;
    details: Record<string, unknown>;
    audit_id: string | null;
    timestamp: string;
  };

describe('the HTTP pipeline', () => {
  it('passes a valid JSON body to the handler, parsed', async () => {
    const result = await post(JSON.stringify({ type: 'a', payload: { count: 2 } }));

    expect(result.statusCode).toBe(200);
    expect(jsonBody(result)).toEqual({ received: { type: 'a', payload: { count: 2 } } });
  });

  it('answers malformed JSON with VALIDATION_FAILED pointing at the body', async () => {
    const result = await post('{"type": "a",');

    expect(result.statusCode).toBe(400);
    const error = errorOf(result);
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details.fields).toEqual([{ field: 'body', message: expect.any(String) }]);
  });

  it('names every missing or mistyped field by its path', async () => {
    const result = await post(JSON.stringify({ payload: { count: 'two' } }));

    expect(result.statusCode).toBe(400);
    const fields = (errorOf(result).details.fields as { field: string }[]).map((f) => f.field);
    expect(fields.sort()).toEqual(['body.payload.count', 'body.type']);
  });

  it('refuses a body in another media type with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const result = await post('type=a', { 'content-type': 'text/plain' });

    expect(result.statusCode).toBe(415);
    expect(errorOf(result).code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(errorOf(result).details).toMatchObject({
      field: 'content-type',
      received: 'text/plain',
    });
  });

  it('accepts JSON with a charset and a +json suffix', async () => {
    const valid = JSON.stringify({ type: 'a', payload: { count: 1 } });

    expect(
      (await post(valid, { 'content-type': 'application/json; charset=utf-8' })).statusCode,
    ).toBe(200);
    expect((await post(valid, { 'content-type': 'application/vnd.blux+json' })).statusCode).toBe(
      200,
    );
  });

  it('refuses a body over the limit with 413 PAYLOAD_TOO_LARGE before parsing it', async () => {
    const result = await post('x'.repeat(MAX_BODY_BYTES + 1));

    expect(result.statusCode).toBe(413);
    expect(errorOf(result)).toMatchObject({
      code: 'PAYLOAD_TOO_LARGE',
      details: { field: 'body', limit_bytes: MAX_BODY_BYTES },
    });
  });

  it('decodes a base64-encoded body before validating it', async () => {
    const result = await post(Buffer.from(JSON.stringify({ type: 'b', payload: { count: 3 } })));

    expect(result.statusCode).toBe(200);
  });

  it('answers a missing body with VALIDATION_FAILED on the body', async () => {
    const result = await post(undefined);

    expect(result.statusCode).toBe(400);
    expect(errorOf(result).details.fields).toEqual([
      { field: 'body', message: expect.any(String) },
    ]);
  });

  it('puts every error in the envelope with a timestamp and a null audit id', async () => {
    const error = errorOf(await post('nope'));

    expect(Object.keys(error).sort()).toEqual([
      'audit_id',
      'code',
      'details',
      'message',
      'timestamp',
    ]);
    expect(error.audit_id).toBeNull();
    expect(Number.isNaN(Date.parse(error.timestamp))).toBe(false);
  });

  it('turns an unknown error into a generic INTERNAL that leaks nothing', async () => {
    const failing = httpRoute(echoRoute, {
      handle: async () => {
        throw new Error('secret connection string postgres://u:p@db');
      },
    });
    const result = await failing(httpEvent({ method: 'POST', path: '/echo' }), lambdaContext());

    expect(result.statusCode).toBe(500);
    expect(result.body).not.toContain('postgres');
    expect(result.body).not.toContain('at ');
    expect(errorOf(result)).toMatchObject({ code: 'INTERNAL', details: {} });
  });

  it('answers an unavailable dependency with 503 and Retry-After', async () => {
    const failing = httpRoute(echoRoute, {
      handle: async () => {
        throw new ServiceUnavailableError('table throttled', 2, new Error('internal detail'));
      },
    });
    const result = await failing(httpEvent({ method: 'POST', path: '/echo' }), lambdaContext());

    expect(result.statusCode).toBe(503);
    expect(result.headers?.['Retry-After']).toBe('2');
    expect(errorOf(result).code).toBe('SERVICE_UNAVAILABLE');
    expect(result.body).not.toContain('table throttled');
  });

  it('stamps X-Request-Id on successes and errors alike', async () => {
    const ok = await post(JSON.stringify({ type: 'a', payload: { count: 2 } }));
    const bad = await post('{');

    expect(ok.headers?.['X-Request-Id']).toBe('test-request-id=');
    expect(bad.headers?.['X-Request-Id']).toBe('test-request-id=');
  });

  it('keeps a well-formed client X-Request-Id and replaces a malformed one', async () => {
    const kept = await post('{', { 'x-request-id': 'client-req-12345' });
    const replaced = await post('{', { 'x-request-id': 'bad id with spaces\n' });

    expect(kept.headers?.['X-Request-Id']).toBe('client-req-12345');
    expect(replaced.headers?.['X-Request-Id']).toBe('test-request-id=');
  });
});
