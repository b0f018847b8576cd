/**
 * The S3 bucket `data_analysis` tasks read their datasets from (`ref://dataset/<name>` is the
 * object `<name>.csv` or `<name>.jsonl`). Private and encrypted, reachable over TLS only, kept
 * on `cdk destroy` in every stage because it holds the callers' data, not the stack's. Read
 * access is granted function by function with `grantDatasetRead`; nothing writes through the
 * stack: datasets are uploaded by whoever owns them.
 */
import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  ObjectOwnership,
  type CfnBucket,
} from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { Stage } from '@infra/stage-config';

/** Props of `DatasetBucket`. */
export interface DatasetBucketProps {
  /** The stage the bucket belongs to, in its tags and description only: S3 names it. */
  readonly stage: Stage;
}

export class DatasetBucket extends Construct {
  readonly bucket: Bucket;

  constructor(scope: Construct, id: string, props: DatasetBucketProps) {
    super(scope, id);

    this.bucket = new Bucket(this, 'Bucket', {
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // An overwritten or deleted dataset can be recovered, and a task that read it explained.
      versioned: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.bucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        `The ${props.stage} dataset bucket is read by the task executor alone, through its ` +
        'role; CloudTrail data events, not a second logging bucket, are where object reads ' +
        'are audited if an account needs them.',
    });
  }

  /**
   * Lets `grantee` find and read datasets: `s3:GetObject` on the objects and `s3:ListBucket`
   * on the bucket, without which S3 answers a missing key with 403 instead of 404 and a
   * missing dataset could not be told from a denied one. Nothing else: no write, no delete.
   */
  grantDatasetRead(grantee: IGrantable): Grant {
    const objects = Grant.addToPrincipal({
      grantee,
      actions: ['s3:GetObject'],
      resourceArns: [this.bucket.arnForObjects('*')],
    });
    Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
    });
    const principal = grantee.grantPrincipal;
    if (Construct.isConstruct(principal)) {
      const bucketLogicalId = Stack.of(this).getLogicalId(
        this.bucket.node.defaultChild as CfnBucket,
      );
      Validations.of(principal).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketLogicalId}.Arn>/*]`,
        reason:
          'Datasets are the objects of this bucket, named by the tasks at run time: reading ' +
          'any object of this one bucket is the grant, and no other bucket is reachable.',
      });
    }

    return objects;
  }
}
