/**
 * cdk-nag v3 runs as a CDK policy validation plugin: its findings no longer arrive as
 * annotations, so `Annotations.fromStack` would find none whatever the stack held. These tests
 * ask the AwsSolutions pack itself, through `validateScope`, and also synthesize with the pack
 * registered the way `infra/app.ts` registers it.
 */
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { beforeAll, describe, expect, it } from 'vitest';
import type { StreamConsumerDeclaration } from '@shared/catalog/stream-consumers';
import { STREAM_CONSUMERS } from '@shared/catalog/stream-consumers';
import { GatewayStack, gatewayStackName, type GatewayStackProps } from '@infra/gateway-stack';
import { STAGES, type Stage } from '@infra/stage-config';

/** Everything a case may add to the stack besides its stage and consumers. */
type ExtraProps = Pick<GatewayStackProps, 'customDomain' | 'previousTokenKeyArns'>;

interface Finding {
  readonly rule: string;
  readonly severity: string;
  readonly paths: readonly string[];
}

interface Acknowledgment {
  readonly path: string;
  readonly rule: string;
  readonly reason: unknown;
}

interface Checked {
  readonly findings: readonly Finding[];
  readonly acknowledgments: readonly Acknowledgment[];
  /** What synthesis threw with the pack registered; undefined when it passed. */
  readonly synthError: unknown;
}

/** Long enough to say why, not just "ok" or "suppressed". */
const MIN_REASON_LENGTH = 40;
const BUNDLING_STACKS = 'aws:cdk:bundling-stacks';
const SYNTH_TIMEOUT_MS = 180_000;

/** The catalog declares no consumer yet; this one makes the consumer's acknowledgments count. */
const TEST_CONSUMER: StreamConsumerDeclaration = {
  id: 'auditSealer',
  table: 'audit',
  handler: 'functions/not-found.ts',
  batchSize: 10,
  maxBatchingWindowSeconds: 1,
  retryAttempts: 2,
  bisectBatchOnError: true,
  reportBatchItemFailures: true,
  startingPosition: 'LATEST',
  tables: { audit: 'readWrite' },
};

const findingsOf = (scope: IConstruct): Finding[] =>
  new AwsSolutionsChecks().validateScope(scope).violations.map((violation) => ({
    rule: violation.ruleName,
    severity: violation.severity ?? 'unknown',
    paths: violation.violatingResources.map((resource) => resource.constructPath ?? '?'),
  }));

const acknowledgmentsOf = (scope: IConstruct): Acknowledgment[] =>
  scope.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, unknown>).map(([rule, reason]) => ({
          path: construct.node.path,
          rule,
          reason,
        })),
      ),
  );

const check = (
  stage: Stage,
  consumers?: readonly StreamConsumerDeclaration[],
  extraProps: ExtraProps = {},
): Checked => {
  // Bundling is skipped: the pack reads the template, and five stacks of some twenty bundles
  // each outran the hook on two cores. The bundles themselves are checked in gateway-stack.
  const app = new App({ context: { [BUNDLING_STACKS]: [] } });
  const stack = new GatewayStack(app, gatewayStackName(stage), {
    stage,
    streamConsumers: consumers,
    ...extraProps,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  let synthError: unknown;
  try {
    app.synth();
  } catch (error) {
    synthError = error;
  }

  return { findings: findingsOf(stack), acknowledgments: acknowledgmentsOf(stack), synthError };
};

/** A custom domain with mutual TLS and a rotated-out key: the optional parts of the stack. */
const IDENTITY_PROPS: ExtraProps = {
  customDomain: {
    domainName: 'api.blux.example',
    certificateArn:
      'arn:aws:acm:eu-west-1:123456789012:certificate/0d1c2b3a-4e5f-6a7b-8c9d-0e1f2a3b4c5d',
    mtls: { truststoreUri: 's3://blux-truststores/prod/truststore.pem' },
  },
  previousTokenKeyArns: [
    'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
  ],
};

interface NagCase {
  readonly name: string;
  readonly stage: Stage;
  readonly consumers: readonly StreamConsumerDeclaration[] | undefined;
  readonly extraProps?: ExtraProps;
}

const CASES: readonly NagCase[] = [
  ...STAGES.map((stage) => ({ name: stage, stage, consumers: undefined })),
  { name: 'dev with a stream consumer', stage: 'dev', consumers: [TEST_CONSUMER] },
  {
    name: 'prod with a custom domain, mutual TLS and a previous key',
    stage: 'prod',
    consumers: undefined,
    extraProps: IDENTITY_PROPS,
  },
];

const checked = new Map<string, Checked>();

beforeAll(() => {
  for (const { name, stage, consumers, extraProps } of CASES) {
    checked.set(name, check(stage, consumers && [...STREAM_CONSUMERS, ...consumers], extraProps));
  }
}, SYNTH_TIMEOUT_MS);

const checkedCase = (name: string): Checked => {
  const result = checked.get(name);
  if (result === undefined) {
    throw new Error(`no checked stack named ${name}`);
  }

  return result;
};

describe.each(CASES.map(({ name }) => name))('the %s stack under AwsSolutionsChecks', (name) => {
  it('GIVEN the stack WHEN the pack checks it THEN no error is left unacknowledged', () => {
    const errors = checkedCase(name).findings.filter((finding) => finding.severity === 'error');

    expect(errors).toEqual([]);
  });

  it('GIVEN the stack WHEN the pack checks it THEN no warning is left unacknowledged', () => {
    const warnings = checkedCase(name).findings.filter((finding) => finding.severity !== 'error');

    expect(warnings).toEqual([]);
  });

  it('GIVEN the pack registered as in app.ts WHEN the app synthesizes THEN it passes', () => {
    expect(checkedCase(name).synthError).toBeUndefined();
  });

  it('GIVEN the acknowledgments WHEN they are read back THEN each one gives a real reason', () => {
    const { acknowledgments } = checkedCase(name);

    expect(acknowledgments.length).toBeGreaterThan(0);
    for (const acknowledgment of acknowledgments) {
      expect(acknowledgment.rule, acknowledgment.path).toMatch(/AwsSolutions-[A-Z]+\d+/);
      expect(String(acknowledgment.reason).length, acknowledgment.path).toBeGreaterThanOrEqual(
        MIN_REASON_LENGTH,
      );
    }
  });
});

describe('the cdk-nag harness', () => {
  it('GIVEN a queue nobody acknowledged WHEN the pack checks it THEN it reports errors', () => {
    const stack = new Stack(new App(), 'Control');
    new Queue(stack, 'Plain');

    const rules = findingsOf(stack).map((finding) => `${finding.rule}:${finding.severity}`);

    expect(rules).toEqual(expect.arrayContaining(['AwsSolutions-SQS4:error']));
  });

  it('GIVEN that queue acknowledged WHEN the pack checks it THEN the finding is settled', () => {
    const stack = new Stack(new App(), 'Acknowledged');
    const queue = new Queue(stack, 'Plain');
    Validations.of(queue).acknowledge({
      id: 'AwsSolutions-SQS4',
      reason: 'Control case: proves an acknowledgment reaches the pack.',
    });

    const rules = findingsOf(stack).map((finding) => finding.rule);

    expect(rules).not.toContain('AwsSolutions-SQS4');
  });
});
