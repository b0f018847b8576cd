/**
 * A function fed by a table's DynamoDB stream, with the batching and retry settings its
 * catalog declaration gives, and an SQS queue that receives what it could not process.
 */
import { Duration, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import { StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { StreamConsumerDeclaration } from '@shared/catalog/stream-consumers';
import { InfraConfigError } from '@infra/infra-error';
import { CATALOG_ID_PATTERN, gatewayFunctionName } from '@infra/naming';
import { STAGE_CONFIG } from '@infra/stage-config';
import {
  GatewayFunction,
  passThroughSettings,
  type GatewayFunctionSettings,
} from './gateway-function';
import type { GatewayTables } from './gateway-tables';

/** DynamoDB stream event sources accept 1 to 10,000 records per batch. */
const MAX_STREAM_BATCH_SIZE = 10_000;
const MAX_BATCHING_WINDOW_SECONDS = 300;
/** -1 means retry until the record expires from the stream. */
const MIN_RETRY_ATTEMPTS = -1;
const MAX_RETRY_ATTEMPTS = 10_000;
/** Lambda reads one shard with 1 to 10 batches in flight. */
const MAX_PARALLELIZATION_FACTOR = 10;
/** SQS keeps a message 14 days at most; failures should wait for an operator that long. */
const FAILURE_RETENTION = Duration.days(14);

/** Props of `StreamConsumerFunction`; every optional one falls back to the stage's config. */
export interface StreamConsumerFunctionProps extends GatewayFunctionSettings {
  /** The catalog's declaration: the table, the handler and the event source settings. */
  readonly consumer: StreamConsumerDeclaration;
  /**
   * What `cdk destroy` does to the log group and the failure queue.
   *
   * @default - the stage's `removalPolicy`
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Replace whatever access the declaration gives to the `audit` table with
   * `GatewayTables.grantSealFieldsUpdate`: `UpdateItem` of the seal fields only. For the audit
   * sealer, which the catalog can only describe as `readWrite`.
   *
   * @default false
   */
  readonly sealFieldsOnly?: boolean;
}

/** The function of one catalog stream consumer, its event source mapping and failure queue. */
export class StreamConsumerFunction extends Construct {
  readonly consumer: StreamConsumerDeclaration;
  readonly function: NodejsFunction;
  /**
   * Where a batch goes once its retries are spent. Lambda sends the batch's stream position,
   * not its records: an operator has the stream's 24 hours to read them back from there.
   */
  readonly failureQueue: Queue;

  constructor(scope: Construct, id: string, props: StreamConsumerFunctionProps) {
    super(scope, id);

    const { consumer, stage, tables } = props;
    assertValidConsumer(consumer, tables);
    this.consumer = consumer;
    const { audit: declaredAuditAccess, ...otherTables } = consumer.tables;
    const sealFieldsOnly = props.sealFieldsOnly === true;

    const gatewayFunction = new GatewayFunction(this, 'Handler', {
      handler: consumer.handler,
      functionName: gatewayFunctionName(stage, consumer.id),
      description: `BLUX gateway ${stage}: consumes the ${consumer.table} stream`,
      stage,
      tables,
      tableAccess: sealFieldsOnly ? otherTables : consumer.tables,
      timeout:
        props.timeout ??
        (consumer.timeoutSeconds === undefined
          ? undefined
          : Duration.seconds(consumer.timeoutSeconds)),
      ...passThroughSettings(props),
    });
    this.function = gatewayFunction.function;
    if (sealFieldsOnly && declaredAuditAccess !== undefined) {
      tables.grantSealFieldsUpdate(gatewayFunction.role);
    }

    this.failureQueue = new Queue(this, 'FailureQueue', {
      // SQS-managed keys rather than KMS: Lambda's event source mapping can then send to the
      // queue with no key grant, and the records it sends hold positions, not table data.
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: FAILURE_RETENTION,
      removalPolicy: props.removalPolicy ?? STAGE_CONFIG[stage].removalPolicy,
    });
    Validations.of(this.failureQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter destination of a stream event source mapping; ' +
        'cdk-nag only recognises DLQs named in a RedrivePolicy, and a DLQ of a DLQ has no use.',
    });

    this.function.addEventSource(
      new DynamoEventSource(tables.table(consumer.table), {
        startingPosition: StartingPosition[consumer.startingPosition],
        batchSize: consumer.batchSize,
        maxBatchingWindow: Duration.seconds(consumer.maxBatchingWindowSeconds),
        retryAttempts: consumer.retryAttempts,
        // One batch per shard at a time keeps each shard's records in order, which a consumer
        // that chains what it reads (the audit sealer) relies on; a consumer whose records are
        // independent per item (the task executor) may declare more.
        parallelizationFactor: consumer.parallelizationFactor ?? 1,
        bisectBatchOnError: consumer.bisectBatchOnError,
        reportBatchItemFailures: consumer.reportBatchItemFailures,
        onFailure: new SqsDlq(this.failureQueue),
      }),
    );
    Validations.of(gatewayFunction.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'Reading a stream needs dynamodb:ListStreams, which supports no resource-level ' +
        'permissions; the record-reading actions stay scoped to the stream ARN of this table.',
    });
  }
}

const assertValidConsumer = (consumer: StreamConsumerDeclaration, tables: GatewayTables): void => {
  if (!CATALOG_ID_PATTERN.test(consumer.id)) {
    throw new InfraConfigError(
      'streamConsumerFunction.invalidConsumerId',
      `stream consumer id ${JSON.stringify(consumer.id)} is not plain camelCase`,
      { consumerId: consumer.id },
    );
  }
  if (tables.table(consumer.table).tableStreamArn === undefined) {
    throw new InfraConfigError(
      'streamConsumerFunction.tableWithoutStream',
      `consumer ${consumer.id} reads table ${consumer.table}, which declares no stream`,
      { consumerId: consumer.id, tableId: consumer.table },
    );
  }
  assertInRange(consumer, 'batchSize', 1, MAX_STREAM_BATCH_SIZE);
  assertInRange(consumer, 'maxBatchingWindowSeconds', 0, MAX_BATCHING_WINDOW_SECONDS);
  assertInRange(consumer, 'retryAttempts', MIN_RETRY_ATTEMPTS, MAX_RETRY_ATTEMPTS);
  if (consumer.parallelizationFactor !== undefined) {
    assertInRange(consumer, 'parallelizationFactor', 1, MAX_PARALLELIZATION_FACTOR);
  }
};

const RANGE_ERROR_CODES = {
  batchSize: 'streamConsumerFunction.batchSizeOutOfRange',
  maxBatchingWindowSeconds: 'streamConsumerFunction.batchingWindowOutOfRange',
  retryAttempts: 'streamConsumerFunction.retryAttemptsOutOfRange',
  parallelizationFactor: 'streamConsumerFunction.parallelizationFactorOutOfRange',
} as const;

const assertInRange = (
  consumer: StreamConsumerDeclaration,
  field: keyof typeof RANGE_ERROR_CODES,
  min: number,
  max: number,
): void => {
  const value = consumer[field] ?? 1;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InfraConfigError(
      RANGE_ERROR_CODES[field],
      `consumer ${consumer.id} has ${field} ${value}; it must be a whole number in ${min}-${max}`,
      { consumerId: consumer.id, [field]: value },
    );
  }
};
