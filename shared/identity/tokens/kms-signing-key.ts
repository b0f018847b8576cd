/**
 * The token signing key in AWS: an asymmetric KMS key (`ECC_NIST_P256`, `SIGN_VERIFY`). The
 * private key never leaves KMS; the gateway asks KMS to sign each token and converts the DER
 * signature KMS returns into the r || s form a JWS carries.
 */
import { createPublicKey } from 'node:crypto';
import {
  GetPublicKeyCommand,
  KMSServiceException,
  SignCommand,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { isNetworkError } from '@shared/aws/network-errors';
import { ServiceUnavailableError } from '@shared/errors/gateway-error';
import { derToJoseSignature } from './ecdsa-signature';
import {
  ES256_PART_BYTES,
  jwkThumbprint,
  publicP256Jwk,
  SigningKeyError,
  TOKEN_SIGNING_ALG,
  type TokenSigningKey,
} from './signing-key';

/** KMS signs a `RAW` message of at most 4096 bytes; a token's signing input is far smaller. */
export const KMS_MAX_RAW_MESSAGE_BYTES = 4096;

export const KMS_RETRY_AFTER_SECONDS = 1;

export interface KmsSigningKeyOptions {
  readonly client: KMSClient;
  /** A key id, key ARN, alias name or alias ARN. */
  readonly keyId: string;
}

const KMS_KEY_SPEC = 'ECC_NIST_P256';
const KMS_SIGNING_ALGORITHM = 'ECDSA_SHA_256';

/** KMS failures that say "try again later" rather than "this key cannot sign". */
const TRANSIENT_KMS_ERRORS = new Set([
  'ThrottlingException',
  'KMSInternalException',
  'DependencyTimeoutException',
  'KeyUnavailableException',
  'TimeoutError',
]);

const isTransientKmsError = (error: unknown): boolean =>
  error instanceof Error &&
  (TRANSIENT_KMS_ERRORS.has(error.name) ||
    (error instanceof KMSServiceException && error.$fault === 'server') ||
    isNetworkError(error));

/** Runs one KMS call; throttling, KMS faults and network failures become a 503. */
const withKmsErrors = async <T>(call: () => Promise<T>): Promise<T> => {
  try {
    return await call();
  } catch (error) {
    if (isTransientKmsError(error)) {
      throw new ServiceUnavailableError(
        'The token signing key is unavailable.',
        KMS_RETRY_AFTER_SECONDS,
        error,
      );
    }
    throw error;
  }
};

/**
 * Reads the KMS key's public half once, checks that it can sign ES256 tokens, and returns the
 * signing key. The `kid` is the thumbprint of that public key, so it changes with the key.
 */
export const createKmsSigningKey = async (
  options: KmsSigningKeyOptions,
): Promise<TokenSigningKey> => {
  const { client, keyId } = options;
  const described = await withKmsErrors(() =>
    client.send(new GetPublicKeyCommand({ KeyId: keyId })),
  );
  if (
    described.KeySpec !== KMS_KEY_SPEC ||
    described.KeyUsage !== 'SIGN_VERIFY' ||
    !(described.SigningAlgorithms ?? []).includes(KMS_SIGNING_ALGORITHM)
  ) {
    throw new SigningKeyError(
      'signingKey.kmsKeyUnsupported',
      `KMS key ${keyId} must be an ${KMS_KEY_SPEC} key for SIGN_VERIFY with ECDSA_SHA_256`,
    );
  }
  if (described.PublicKey === undefined) {
    throw new SigningKeyError('signingKey.kmsEmptyResponse', 'GetPublicKey returned no key');
  }

  const spki = createPublicKey({
    key: Buffer.from(described.PublicKey),
    format: 'der',
    type: 'spki',
  });
  const jwk = publicP256Jwk(spki);
  // Sign with the key's ARN, not the alias it may have been found by: an alias pointed at
  // another key later must not make this kid carry another key's signatures.
  const signingKeyId = described.KeyId ?? keyId;

  return {
    kid: jwkThumbprint(jwk),
    alg: TOKEN_SIGNING_ALG,
    publicJwk: async () => ({ ...jwk }),
    sign: async (signingInput) => {
      if (signingInput.byteLength > KMS_MAX_RAW_MESSAGE_BYTES) {
        throw new SigningKeyError(
          'signingKey.messageTooLarge',
          `KMS signs at most ${KMS_MAX_RAW_MESSAGE_BYTES} bytes, got ${signingInput.byteLength}`,
        );
      }
      const signed = await withKmsErrors(() =>
        client.send(
          new SignCommand({
            KeyId: signingKeyId,
            Message: signingInput,
            MessageType: 'RAW',
            SigningAlgorithm: KMS_SIGNING_ALGORITHM,
          }),
        ),
      );
      if (signed.Signature === undefined) {
        throw new SigningKeyError('signingKey.kmsEmptyResponse', 'Sign returned no signature');
      }

      return derToJoseSignature(signed.Signature, ES256_PART_BYTES);
    },
  };
};
