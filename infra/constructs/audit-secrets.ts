/**
 * The two secrets of the audit trail. The signing secret is the seed the sealer derives its
 * ES512 key from (`shared/audit/audit-key-source.ts`), so losing it would orphan every
 * signature made with it: it is kept in every stage. The page-token secret only makes
 * `GET /v1/audit` page tokens tamper-proof, so it goes with its stage. Functions receive each
 * secret's ARN, never its value, which would otherwise sit in the template in plain text.
 */
import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { Grant } from 'aws-cdk-lib/aws-iam';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { STAGE_CONFIG, type Stage } from '@infra/stage-config';

/** Where the sealer learns the signing secret; `auditSigningSecretArn()` reads it. */
export const AUDIT_SIGNING_SECRET_ARN_VARIABLE = 'AUDIT_SIGNING_SECRET_ARN';

/** Where `GET /v1/audit` learns the page-token secret. */
export const AUDIT_PAGE_TOKEN_SECRET_ARN_VARIABLE = 'AUDIT_PAGE_TOKEN_SECRET_ARN';

/** 64 letters and digits: about 380 bits, well above what HMAC-SHA-256 and the key seed need. */
export const AUDIT_SECRET_LENGTH_CHARS = 64;

/** Props of `AuditSecrets`. */
export interface AuditSecretsProps {
  /** The stage the secrets belong to; it names them in their descriptions. */
  readonly stage: Stage;
  /**
   * What `cdk destroy` does to the page-token secret. The signing secret is always retained.
   *
   * @default - the stage's `removalPolicy`
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The audit signing secret and the page-token secret, each readable only where granted. */
export class AuditSecrets extends Construct {
  readonly signingSecret: Secret;
  readonly pageTokenSecret: Secret;

  constructor(scope: Construct, id: string, props: AuditSecretsProps) {
    super(scope, id);

    const removalPolicy = props.removalPolicy ?? STAGE_CONFIG[props.stage].removalPolicy;
    this.signingSecret = new Secret(this, 'SigningSecret', {
      description: `BLUX gateway ${props.stage}: seed of the audit signing key (sealer only)`,
      generateSecretString: randomString(),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.pageTokenSecret = new Secret(this, 'PageTokenSecret', {
      description: `BLUX gateway ${props.stage}: HMAC key of the GET /v1/audit page tokens`,
      generateSecretString: randomString(),
      removalPolicy,
    });

    Validations.of(this.signingSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'A new value of this secret is a new audit signing key with a new key id, which must be ' +
        'published before it seals; rotation is a planned key change, not a Secrets Manager job.',
    });
    Validations.of(this.pageTokenSecret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Rotating the page-token key only invalidates GET /v1/audit page tokens in flight; ' +
        'it protects no data at rest, so it is rotated by hand when needed.',
    });
  }

  /** Lets the function read the signing secret and tells it the ARN; for the sealer alone. */
  grantSigningSecretRead(fn: LambdaFunction): Grant {
    fn.addEnvironment(AUDIT_SIGNING_SECRET_ARN_VARIABLE, this.signingSecret.secretArn);

    return this.signingSecret.grantRead(fn);
  }

  /** Lets the function read the page-token secret and tells it the ARN. */
  grantPageTokenSecretRead(fn: LambdaFunction): Grant {
    fn.addEnvironment(AUDIT_PAGE_TOKEN_SECRET_ARN_VARIABLE, this.pageTokenSecret.secretArn);

    return this.pageTokenSecret.grantRead(fn);
  }
}

const randomString = (): { passwordLength: number; excludePunctuation: boolean } => ({
  passwordLength: AUDIT_SECRET_LENGTH_CHARS,
  excludePunctuation: true,
});
