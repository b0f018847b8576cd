import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sign, verify, type KeyObject } from 'node:crypto';
import { KMSClient } from '@aws-sdk/client-kms';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ServiceUnavailableError } from '@shared/errors/gateway-error';
import { toJwks } from '@shared/identity/tokens/jwks';
import {
  createKmsSigningKey,
  KMS_MAX_RAW_MESSAGE_BYTES,
} from '@shared/identity/tokens/kms-signing-key';
import { jwkThumbprint, SigningKeyError } from '@shared/identity/tokens/signing-key';
import { issueAccessToken } from '@shared/identity/tokens/token-issuer';
import { createTokenVerifier } from '@shared/identity/tokens/token-verifier';
import { decodeJwt, generateP256, generateRsa } from '@test/fixtures/jwt';

const KEY_ARN = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const ALIAS = 'alias/blux-token-signing';

interface KmsCall {
  readonly target: string;
  readonly body: Record<string, unknown>;
}

/** What the fake KMS answers with; each test sets what it needs. */
interface FakeKms {
  privateKey: KeyObject;
  publicKey: KeyObject;
  keySpec: string;
  keyUsage: string;
  /** When set, Sign fails with this KMS error type. */
  signFailure: string | undefined;
  calls: KmsCall[];
}

const kms: FakeKms = {
  ...generateP256(),
  keySpec: 'ECC_NIST_P256',
  keyUsage: 'SIGN_VERIFY',
  signFailure: undefined,
  calls: [],
};
let server: Server;
let endpoint: string;

const readJson = async (request: IncomingMessage): Promise<Record<string, unknown>> => {
  const chunks: Buffer[] = [];
  for await (const chunk of request) {
    chunks.push(chunk as Buffer);
  }

  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
};

const answer = (response: ServerResponse, status: number, body: unknown): void => {
  response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
  response.end(JSON.stringify(body));
};

/** The two operations of the KMS JSON protocol the signing key uses, backed by a real key. */
const handleKms = async (request: IncomingMessage, response: ServerResponse): Promise<void> => {
  const target = String(request.headers['x-amz-target']);
  const body = await readJson(request);
  kms.calls.push({ target, body });

  if (target === 'TrentService.GetPublicKey') {
    const publicKey = kms.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    answer(response, 200, {
      KeyId: KEY_ARN,
      PublicKey: publicKey,
      KeySpec: kms.keySpec,
      KeyUsage: kms.keyUsage,
      SigningAlgorithms:
        kms.keySpec === 'ECC_NIST_P256' ? ['ECDSA_SHA_256'] : ['RSASSA_PSS_SHA_256'],
    });
    return;
  }
  if (target === 'TrentService.Sign' && kms.signFailure !== undefined) {
    answer(response, 400, { __type: kms.signFailure, message: 'slow down' });
    return;
  }
  if (target === 'TrentService.Sign') {
    const message = Buffer.from(String(body.Message), 'base64');
    const signature = sign('sha256', message, { key: kms.privateKey, dsaEncoding: 'der' });
    answer(response, 200, {
      KeyId: KEY_ARN,
      Signature: signature.toString('base64'),
      SigningAlgorithm: body.SigningAlgorithm,
    });
    return;
  }
  answer(response, 400, { __type: 'UnsupportedOperationException', message: target });
};

const kmsClient = (): KMSClient =>
  new KMSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });

beforeAll(async () => {
  server = createServer((request, response) => {
    handleKms(request, response).catch(() => answer(response, 500, {}));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((done) => server.close(done));
});

afterEach(() => {
  Object.assign(kms, generateP256(), {
    keySpec: 'ECC_NIST_P256',
    keyUsage: 'SIGN_VERIFY',
    signFailure: undefined,
    calls: [],
  });
});

describe('createKmsSigningKey', () => {
  it('names the key by the thumbprint of the public key KMS holds', async () => {
    const key = await createKmsSigningKey({ client: kmsClient(), keyId: ALIAS });

    expect(await key.publicJwk()).toEqual({
      kty: 'EC',
      crv: 'P-256',
      x: kms.publicKey.export({ format: 'jwk' }).x,
      y: kms.publicKey.export({ format: 'jwk' }).y,
    });
    expect(key.kid).toBe(jwkThumbprint(kms.publicKey.export({ format: 'jwk' })));
    expect(key.alg).toBe('ES256');
  });

  it('reads the public key once, however often it is asked for', async () => {
    const key = await createKmsSigningKey({ client: kmsClient(), keyId: ALIAS });

    await Promise.all([key.publicJwk(), key.publicJwk(), toJwks([key])]);

    expect(kms.calls.filter((call) => call.target === 'TrentService.GetPublicKey')).toHaveLength(1);
  });

  it('signs a RAW message with ECDSA_SHA_256 under the key ARN, not the alias', async () => {
    const key = await createKmsSigningKey({ client: kmsClient(), keyId: ALIAS });
    const input = Buffer.from('header.claims');

    const signature = await key.sign(input);

    expect(kms.calls.at(-1)).toEqual({
      target: 'TrentService.Sign',
      body: {
        KeyId: KEY_ARN,
        Message: input.toString('base64'),
        MessageType: 'RAW',
        SigningAlgorithm: 'ECDSA_SHA_256',
      },
    });
    expect(signature).toHaveLength(64);
    expect(
      verify('sha256', input, { key: kms.publicKey, dsaEncoding: 'ieee-p1363' }, signature),
    ).toBe(true);
  });

  it('converts each of many DER signatures KMS returns', async () => {
    const key = await createKmsSigningKey({ client: kmsClient(), keyId: KEY_ARN });

    for (let round = 0; round < 40; round += 1) {
      const input = Buffer.from(`header.claims-${round}`);
      const signature = await key.sign(input);

      expect(
        verify('sha256', input, { key: kms.publicKey, dsaEncoding: 'ieee-p1363' }, signature),
      ).toBe(true);
    }
  });

  it('issues tokens that node and the gateway verifier both accept', async () => {
    const key = await createKmsSigningKey({ client: kmsClient(), keyId: ALIAS });
    const verifier = createTokenVerifier({
      issuer: 'https://gateway.blux.test',
      audience: 'blux',
      keys: async () => (await toJwks([key])).keys,
    });

    const { accessToken } = await issueAccessToken({
      key,
      issuer: 'https://gateway.blux.test',
      audience: 'blux',
      clientId: 'svc-1',
      scopes: ['tasks:read'],
    });
    const [header, claims, signature = ''] = accessToken.split('.');

    expect(decodeJwt(accessToken).header).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: key.kid });
    expect(
      verify(
        'sha256',
        Buffer.from(`${header}.${claims}`),
        { key: kms.publicKey, dsaEncoding: 'ieee-p1363' },
        Buffer.from(signature, 'base64url'),
      ),
    ).toBe(true);
    await expect(verifier.verify(accessToken)).resolves.toMatchObject({
      id: 'service:svc-1',
      scopes: ['tasks:read'],
    });
  });

  it('refuses a KMS key that is not a P-256 signing key', async () => {
    Object.assign(kms, generateRsa(), { keySpec: 'RSA_2048' });

    const creating = createKmsSigningKey({ client: kmsClient(), keyId: ALIAS });

    await expect(creating).rejects.toThrow(SigningKeyError);
    await expect(creating).rejects.toMatchObject({ code: 'signingKey.kmsKeyUnsupported' });
  });

  it('refuses a P-256 key meant for key agreement', async () => {
    kms.keyUsage = 'KEY_AGREEMENT';

    await expect(createKmsSigningKey({ client: kmsClient(), keyId: ALIAS })).rejects.toMatchObject({
      code: 'signingKey.kmsKeyUnsupported',
    });
  });

  it('refuses a message larger than KMS signs, without calling KMS', async () => {
    const key = await createKmsSigningKey({ client: kmsClient(), keyId: ALIAS });
    const callsBefore = kms.calls.length;

    await expect(key.sign(new Uint8Array(KMS_MAX_RAW_MESSAGE_BYTES + 1))).rejects.toMatchObject({
      code: 'signingKey.messageTooLarge',
    });
    expect(kms.calls).toHaveLength(callsBefore);
  });

  it('answers 503 with Retry-After when KMS throttles', async () => {
    const key = await createKmsSigningKey({ client: kmsClient(), keyId: ALIAS });
    kms.signFailure = 'ThrottlingException';

    const error = await key.sign(Buffer.from('x')).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect(error).toMatchObject({ status: 503, headers: { 'Retry-After': '1' } });
  });

  it('passes on a KMS refusal that retrying would not cure', async () => {
    const key = await createKmsSigningKey({ client: kmsClient(), keyId: ALIAS });
    kms.signFailure = 'DisabledException';

    const error = await key.sign(Buffer.from('x')).catch((caught: unknown) => caught);

    expect(error).not.toBeInstanceOf(ServiceUnavailableError);
    expect(error).toMatchObject({ name: 'DisabledException' });
  });
});
