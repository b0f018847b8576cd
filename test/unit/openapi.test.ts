import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ERROR_CODES } from '@shared/errors/gateway-error';

interface OpenApiDocument {
  readonly openapi: string;
  readonly components: { schemas: { ErrorCode: { enum: string[] } } };
}

const document = parse(
  readFileSync(new URL('../../openapi.yaml', import.meta.url), 'utf8'),
) as OpenApiDocument;

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1', () => {
    expect(document.openapi).toMatch(/^3\.1\./);
  });

  it('lists exactly the error codes the gateway uses', () => {
    expect([...document.components.schemas.ErrorCode.enum].sort()).toEqual(
      Object.keys(ERROR_CODES).sort(),
    );
  });
});
