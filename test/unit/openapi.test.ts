import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROUTES } from '@shared/catalog/routes';
import { ERROR_CODES } from '@shared/errors/gateway-error';

interface OpenApiDocument {
  readonly openapi: string;
  readonly paths: Record<string, Record<string, unknown>>;
  readonly components: { schemas: { ErrorCode: { enum: string[] } } };
}

const document = parse(
  readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8'),
) as OpenApiDocument;

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options']);

/** `GET /health` for every operation the document describes. */
const documentedOperations = (): string[] =>
  Object.entries(document.paths).flatMap(([path, item]) =>
    Object.keys(item)
      .filter((key) => HTTP_METHODS.has(key))
      .map((method) => `${method.toUpperCase()} ${path}`),
  );

const declaredOperations = (): string[] =>
  ROUTES.flatMap((route) => (route.method === null ? [] : [`${route.method} ${route.path}`]));

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1', () => {
    expect(document.openapi).toMatch(/^3\.1\./);
  });

  it('describes exactly the declared routes, path and method', () => {
    expect(documentedOperations().sort()).toEqual(declaredOperations().sort());
  });

  it('lists exactly the error codes the gateway uses', () => {
    expect([...document.components.schemas.ErrorCode.enum].sort()).toEqual(
      Object.keys(ERROR_CODES).sort(),
    );
  });
});
