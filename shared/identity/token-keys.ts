/**
 * Where the token keys come from in the place the code runs: KMS keys in AWS (the private key
 * never leaves KMS), the key ring the local runtime generated otherwise. Handlers ask this
 * module and never know which.
 */
import { KMSClient } from '@aws-sdk/client-kms';
import { ConfigurationError, localKeyRingDir, tokenKmsKeyIds } from '@shared/config';
import { createKmsSigningKey } from './tokens/kms-signing-key';
import { openLocalKeyRing } from './tokens/local-key-ring';
import type { TokenSigningKey } from './tokens/signing-key';

export interface TokenKeySource {
  /** The key that signs new tokens. */
  activeKey(): Promise<TokenSigningKey>;
  /** Every key a verifier must know, the active one first. */
  publishedKeys(): Promise<TokenSigningKey[]>;
}

const kmsKeySource = (keyIds: readonly string[]): TokenKeySource => {
  const client = new KMSClient({ maxAttempts: 3 });
  let keys: Promise<TokenSigningKey[]> | undefined;
  const load = (): Promise<TokenSigningKey[]> => {
    keys ??= Promise.all(keyIds.map((keyId) => createKmsSigningKey({ client, keyId }))).catch(
      (error: unknown) => {
        // A failed load is not cached: the next request tries KMS again.
        keys = undefined;
        throw error;
      },
    );

    return keys;
  };

  return {
    activeKey: async () => (await load())[0] as TokenSigningKey,
    publishedKeys: load,
  };
};

const localKeySource = (dataDir: string): TokenKeySource => {
  const ring = openLocalKeyRing({ dataDir });

  return {
    activeKey: async () => (await ring).activeKey(),
    publishedKeys: async () => (await ring).publishedKeys(),
  };
};

let shared: TokenKeySource | undefined;

/** The process's key source, chosen once from the configuration. */
export const tokenKeySource = (): TokenKeySource => {
  if (shared !== undefined) {
    return shared;
  }
  const ringDir = localKeyRingDir();
  const kmsKeys = tokenKmsKeyIds();
  if (ringDir === undefined && kmsKeys.length === 0) {
    throw new ConfigurationError(
      'config.missingVariable: set TOKEN_KMS_KEY_IDS (AWS) or BLUX_LOCAL_KEY_RING_DIR (local)',
    );
  }
  shared = ringDir === undefined ? kmsKeySource(kmsKeys) : localKeySource(ringDir);

  return shared;
};
