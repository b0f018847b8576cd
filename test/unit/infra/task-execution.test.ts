/**
 * The execution path of tasks in the stack: the executor's event source mapping on the tasks
 * table's stream with its retries, bisection, partial batch responses and dead-letter queue,
 * its timeout against the task types', the sweeper's schedule, and the dataset bucket with
 * read access for the executor alone. These tests read templates only, so bundling is skipped.
 */
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { SCHEDULES } from '@shared/catalog/schedules';
import { STREAM_CONSUMERS, TASK_EXECUTOR_TIMEOUT_SECONDS } from '@shared/catalog/stream-consumers';
import { physicalTableName } from '@shared/catalog/tables';
import { DATASET_BUCKET_VARIABLE } from '@shared/tasks/executors/dataset-stores';
import { MAX_INLINE_RETRY_WAIT_MS } from '@shared/tasks/task-runner';
import { TASK_TYPES } from '@shared/tasks/task-types';
import { GatewayStack, TASK_EXECUTOR_CONSUMER_ID } from '@infra/gateway-stack';
import { gatewayFunctionName } from '@infra/naming';
import { STAGES, type Stage } from '@infra/stage-config';
import {
  actionsOf,
  environmentOf,
  functionOf,
  onResource,
  refusalCode,
  singleResource,
  statementsOf,
  type PolicyStatement,
} from '@test/unit/infra/template-queries';

const BUNDLING_STACKS = 'aws:cdk:bundling-stacks';
const SYNTH_TIMEOUT_MS = 60_000;
const SWEEPER_ID = 'sweepTasks';
const LAMBDA_MAX_TIMEOUT_SECONDS = 900;

const EXECUTOR = STREAM_CONSUMERS.find((consumer) => consumer.id === TASK_EXECUTOR_CONSUMER_ID);
const SWEEPER = SCHEDULES.find((schedule) => schedule.id === SWEEPER_ID);

const templates = {} as Record<Stage, Template>;

const synth = (stage: Stage): Template => {
  const app = new App({ context: { [BUNDLING_STACKS]: [] } });

  return Template.fromStack(new GatewayStack(app, `Tasks${stage}`, { stage }));
};

beforeAll(() => {
  for (const stage of STAGES) {
    templates[stage] = synth(stage);
  }
}, SYNTH_TIMEOUT_MS);

const executorName = (stage: Stage): string =>
  gatewayFunctionName(stage, TASK_EXECUTOR_CONSUMER_ID);
const sweeperName = (stage: Stage): string => gatewayFunctionName(stage, SWEEPER_ID);

const functionId = (template: Template, name: string): string =>
  singleResource(template, 'AWS::Lambda::Function', { FunctionName: name })[0];

const tableId = (template: Template, stage: Stage): string =>
  singleResource(template, 'AWS::DynamoDB::Table', {
    TableName: physicalTableName(stage, 'tasks'),
  })[0];

const bucketId = (template: Template): string => {
  const buckets = Object.keys(template.findResources('AWS::S3::Bucket'));
  expect(buckets).toHaveLength(1);

  return buckets[0] as string;
};

/** Every role's statements that name the dataset bucket, by role logical id. */
const bucketStatementsByRole = (template: Template): Map<string, PolicyStatement[]> => {
  const bucket = bucketId(template);
  const byRole = new Map<string, PolicyStatement[]>();
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
    const statements = (policy.Properties.PolicyDocument.Statement as PolicyStatement[]).filter(
      (statement) => onResource(statement, bucket),
    );
    for (const role of policy.Properties.Roles as { Ref: string }[]) {
      if (statements.length > 0) {
        byRole.set(role.Ref, [...(byRole.get(role.Ref) ?? []), ...statements]);
      }
    }
  }

  return byRole;
};

describe('the task executor', () => {
  it('GIVEN the catalog WHEN it is read THEN it declares the executor and the sweeper', () => {
    expect(EXECUTOR?.table).toBe('tasks');
    expect(EXECUTOR?.handler).toBe('functions/execute-tasks.ts');
    expect(SWEEPER?.handler).toBe('functions/sweep-tasks.ts');
  });

  it('GIVEN any stage WHEN it synthesizes THEN it maps the tasks stream with retries', () => {
    for (const stage of STAGES) {
      const template = templates[stage];

      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: { 'Fn::GetAtt': [tableId(template, stage), 'StreamArn'] },
        FunctionName: { Ref: functionId(template, executorName(stage)) },
        BatchSize: EXECUTOR?.batchSize,
        MaximumBatchingWindowInSeconds: 0,
        MaximumRetryAttempts: 3,
        BisectBatchOnFunctionError: true,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        ParallelizationFactor: 10,
        StartingPosition: 'TRIM_HORIZON',
      });
    }
  });

  it('GIVEN dev WHEN it synthesizes THEN spent records go to an SQS dead-letter queue', () => {
    const template = templates.dev;
    const [, mapping] = singleResource(template, 'AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: functionId(template, executorName('dev')) },
    });
    const destination = (
      mapping.Properties.DestinationConfig as {
        OnFailure: { Destination: { 'Fn::GetAtt': [string, string] } };
      }
    ).OnFailure.Destination['Fn::GetAtt'];
    const queue = template.toJSON().Resources[destination[0]];

    expect(queue.Type).toBe('AWS::SQS::Queue');
    expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    const sends = statementsOf(template, executorName('dev')).filter((statement) =>
      onResource(statement, destination[0]),
    );
    expect(sends.flatMap(actionsOf)).toContain('sqs:SendMessage');
  });

  it('GIVEN any stage WHEN it synthesizes THEN the executor outlives any attempt', () => {
    const longest = Math.max(
      ...TASK_TYPES.filter((type) => type.execution === 'internal').map((t) => t.timeoutSeconds),
    );
    expect(TASK_EXECUTOR_TIMEOUT_SECONDS).toBeGreaterThan(
      longest + MAX_INLINE_RETRY_WAIT_MS / 1000,
    );
    expect(TASK_EXECUTOR_TIMEOUT_SECONDS).toBeLessThanOrEqual(LAMBDA_MAX_TIMEOUT_SECONDS);

    for (const stage of STAGES) {
      expect(functionOf(templates[stage], executorName(stage)).Timeout).toBe(
        TASK_EXECUTOR_TIMEOUT_SECONDS,
      );
    }
  });

  it('GIVEN dev WHEN it synthesizes THEN the executor writes tasks, only puts entries', () => {
    const template = templates.dev;
    const audit = singleResource(template, 'AWS::DynamoDB::Table', {
      TableName: physicalTableName('dev', 'audit'),
    })[0];
    const statements = statementsOf(template, executorName('dev'));
    const onAudit = statements
      .filter((statement) => onResource(statement, audit))
      .flatMap(actionsOf);
    const onTasks = statements
      .filter((statement) => onResource(statement, tableId(template, 'dev')))
      .flatMap(actionsOf);

    expect(onAudit).toContain('dynamodb:PutItem');
    expect(onAudit).not.toContain('dynamodb:UpdateItem');
    expect(onTasks).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:PutItem']));
  });
});

describe('the sweeper schedule', () => {
  it('GIVEN any stage WHEN it synthesizes THEN a rule sweeps every minute, no retries', () => {
    for (const stage of STAGES) {
      const template = templates[stage];

      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(1 minute)',
        State: 'ENABLED',
        Targets: [
          Match.objectLike({
            Arn: { 'Fn::GetAtt': [functionId(template, sweeperName(stage)), 'Arn'] },
            RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 },
          }),
        ],
      });
      template.hasResourceProperties('AWS::Lambda::Permission', {
        Action: 'lambda:InvokeFunction',
        Principal: 'events.amazonaws.com',
        FunctionName: { 'Fn::GetAtt': [functionId(template, sweeperName(stage)), 'Arn'] },
      });
    }
  });

  it('GIVEN dev WHEN it synthesizes THEN the sweeper has a short timeout and the tasks', () => {
    const template = templates.dev;
    const onTasks = statementsOf(template, sweeperName('dev'))
      .filter((statement) => onResource(statement, tableId(template, 'dev')))
      .flatMap(actionsOf);

    expect(functionOf(template, sweeperName('dev')).Timeout).toBe(SWEEPER?.timeoutSeconds);
    expect(onTasks).toEqual(expect.arrayContaining(['dynamodb:Query', 'dynamodb:UpdateItem']));
  });

  it('GIVEN a schedule with a rate of 0 minutes WHEN it builds THEN rateOutOfRange', () => {
    const build = () =>
      new GatewayStack(new App({ context: { [BUNDLING_STACKS]: [] } }), 'BadRate', {
        stage: 'dev',
        schedules: [{ ...(SWEEPER as NonNullable<typeof SWEEPER>), rateMinutes: 0 }],
      });

    expect(refusalCode(build)).toBe('scheduledFunction.rateOutOfRange');
  });
});

describe('the dataset bucket', () => {
  it('GIVEN any stage WHEN it synthesizes THEN the bucket is encrypted, private, TLS, kept', () => {
    for (const stage of STAGES) {
      const template = templates[stage];
      const bucket = bucketId(template);

      template.hasResource('AWS::S3::Bucket', {
        DeletionPolicy: 'Retain',
        Properties: {
          BucketEncryption: {
            ServerSideEncryptionConfiguration: [
              { ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } },
            ],
          },
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          },
        },
      });
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: bucket },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 's3:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    }
  });

  it('GIVEN any stage WHEN it synthesizes THEN only the executor may read the bucket', () => {
    for (const stage of STAGES) {
      const template = templates[stage];
      const byRole = bucketStatementsByRole(template);
      const executorRole = (
        functionOf(template, executorName(stage)).Role as { 'Fn::GetAtt': [string, string] }
      )['Fn::GetAtt'][0];

      expect([...byRole.keys()], stage).toEqual([executorRole]);
      expect((byRole.get(executorRole) ?? []).flatMap(actionsOf).sort(), stage).toEqual([
        's3:GetObject',
        's3:ListBucket',
      ]);
    }
  });

  it('GIVEN dev WHEN it synthesizes THEN the executor alone learns the bucket', () => {
    const template = templates.dev;

    expect(environmentOf(template, executorName('dev'))[DATASET_BUCKET_VARIABLE]).toEqual({
      Ref: bucketId(template),
    });
    expect(environmentOf(template, sweeperName('dev'))[DATASET_BUCKET_VARIABLE]).toBeUndefined();
  });
});
