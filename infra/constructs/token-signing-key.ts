/**
 * The KMS keys behind the gateway's access tokens: one asymmetric P-256 key that signs them
 * (ES256; the private half never leaves KMS) and the keys it replaced, which sign nothing more
 * but stay published in the JWKS so that the tokens they signed still verify until they expire.
 * Functions learn the keys from `TOKEN_KMS_KEY_IDS`, the active key first.
 *
 * Rotating the key takes two deploys:
 * 1. Read the active key's ARN from the stack output `TokenSigningKeyArn`.
 * 2. Deploy with `tokenKeyGeneration` raised by one and that ARN added in front of
 *    `previousTokenKeyArns`. The stack creates a new key and points the alias at it; the token
 *    functions sign with the new key and still publish and accept the old one.
 * 3. Once the last token of the old key has expired, `TOKEN_TTL_SECONDS` (1 h) plus the
 *    verifier's clock skew after step 2 finished, deploy again without the old ARN.
 *
 * The old key leaves the stack in step 2. Staging and prod retain it, so it keeps answering
 * until step 3; schedule its deletion by hand afterwards (`aws kms schedule-key-deletion`). Dev
 * destroys it, and a key pending deletion answers no `GetPublicKey`, which would fail every
 * token function that lists it: in dev, skip the old ARN and accept that its tokens stop
 * verifying at once.
 */
import type { RemovalPolicy } from 'aws-cdk-lib';
import type { Grant, IGrantable } from 'aws-cdk-lib/aws-iam';
import { Alias, Key, KeySpec, KeyUsage, type IKey } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { InfraConfigError } from '@infra/infra-error';
import { STAGE_CONFIG, type Stage } from '@infra/stage-config';

/** The variable `@shared/config` reads the key ARNs from. */
export const TOKEN_KMS_KEY_IDS_VARIABLE = 'TOKEN_KMS_KEY_IDS';

/** What reading a key's public half takes; `GetPublicKey` also returns its spec and usage. */
export const VERIFY_ACTIONS = ['kms:GetPublicKey'] as const;

/** What signing a token takes, on the active key only. */
export const SIGN_ACTIONS = ['kms:Sign'] as const;

/**
 * A key ARN, not an alias: IAM matches a grant against the key's own ARN, so a grant on an
 * alias ARN would allow nothing, and an alias could later point at another key.
 */
const KMS_KEY_ARN_PATTERN = new RegExp(
  '^arn:aws(?:-[a-z]+)*:kms:[a-z]{2}(?:-[a-z]+)+-\\d+:\\d{12}:key/' +
    // A single-region key id is a UUID; a multi-Region key's starts with `mrk-`.
    '(?:[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$',
);

/** The alias operators find the stage's signing key by: `alias/blux-<stage>-token-signing`. */
export const tokenSigningKeyAlias = (stage: Stage): string => `alias/blux-${stage}-token-signing`;

/** Props of `TokenSigningKey`. */
export interface TokenSigningKeyProps {
  /** The stage whose tokens the key signs; it names the alias. */
  readonly stage: Stage;
  /**
   * Which key signs, a whole number from 1. Raising it creates a new key, under a new logical
   * id, and moves the alias to it; see the file comment for the rotation.
   *
   * @default 1
   */
  readonly generation?: number;
  /**
   * ARNs of the keys that signed before the active one, newest first, in the stack's account
   * and region (the functions call KMS in their own region). They sign nothing, but their
   * public keys stay in the JWKS and in `TOKEN_KMS_KEY_IDS`, so tokens they signed still
   * verify. Remove an ARN once its last token has expired.
   *
   * @default - none
   */
  readonly previousKeyArns?: readonly string[];
  /**
   * What CloudFormation does to the active key when it leaves the stack or the stack is
   * destroyed. Destroying schedules the key's deletion, after which no token it signed verifies.
   *
   * @default - the stage's `removalPolicy`: destroy in dev, retain in staging and prod
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The signing key of one stage, its alias, and the keys it replaced; access via `grant*`. */
export class TokenSigningKey extends Construct {
  /** The key that signs new tokens. */
  readonly activeKey: Key;
  readonly alias: Alias;
  /** Every key a verifier must know: the active key first, then `previousKeyArns` in order. */
  readonly publishedKeys: readonly IKey[];

  constructor(scope: Construct, id: string, props: TokenSigningKeyProps) {
    super(scope, id);

    const generation = props.generation ?? 1;
    const previousKeyArns = props.previousKeyArns ?? [];
    assertValidGeneration(generation);
    assertValidPreviousKeys(previousKeyArns);

    this.activeKey = new Key(this, `KeyGeneration${generation}`, {
      description: `Signs BLUX gateway ${props.stage} access tokens (ES256), key ${generation}`,
      keySpec: KeySpec.ECC_NIST_P256,
      keyUsage: KeyUsage.SIGN_VERIFY,
      // KMS rotates symmetric keys only; an asymmetric key is rotated by replacing it.
      enableKeyRotation: false,
      removalPolicy: props.removalPolicy ?? STAGE_CONFIG[props.stage].removalPolicy,
    });
    // Outside the key's own scope, so that its logical id survives a rotation: CloudFormation
    // then repoints the alias instead of creating a second alias of the same name.
    this.alias = new Alias(this, 'Alias', {
      aliasName: tokenSigningKeyAlias(props.stage),
      targetKey: this.activeKey,
    });
    const previousKeys = previousKeyArns.map((arn, index) =>
      Key.fromKeyArn(this, `PreviousKey${index + 1}`, arn),
    );
    this.publishedKeys = [this.activeKey, ...previousKeys];
  }

  /** `TOKEN_KMS_KEY_IDS` for a function that reads the token keys. */
  environmentVariables(): Record<string, string> {
    return {
      [TOKEN_KMS_KEY_IDS_VARIABLE]: this.publishedKeys.map((key) => key.keyArn).join(','),
    };
  }

  /** Lets the grantee read the public half of every published key, to verify or publish them. */
  grantVerify(grantee: IGrantable): Grant {
    const [first, ...rest] = this.publishedKeys.map((key) => key.grant(grantee, ...VERIFY_ACTIONS));

    return rest.reduce((combined, grant) => combined.combine(grant), first as Grant);
  }

  /** Lets the grantee sign with the active key; retired keys never sign again. */
  grantSign(grantee: IGrantable): Grant {
    return this.activeKey.grant(grantee, ...SIGN_ACTIONS);
  }
}

const assertValidGeneration = (generation: number): void => {
  if (!Number.isInteger(generation) || generation < 1) {
    throw new InfraConfigError(
      'tokenSigningKey.invalidGeneration',
      `token key generation ${generation} is not a whole number from 1`,
      { generation },
    );
  }
};

const assertValidPreviousKeys = (arns: readonly string[]): void => {
  const seen = new Set<string>();
  for (const arn of arns) {
    if (!KMS_KEY_ARN_PATTERN.test(arn)) {
      throw new InfraConfigError(
        'tokenSigningKey.invalidPreviousKeyArn',
        `${JSON.stringify(arn)} is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>); ` +
          'an alias cannot stand for a retired key',
        { arn },
      );
    }
    if (seen.has(arn)) {
      throw new InfraConfigError(
        'tokenSigningKey.duplicatePreviousKeyArn',
        `previous token key ${arn} is listed twice`,
        { arn },
      );
    }
    seen.add(arn);
  }
};
