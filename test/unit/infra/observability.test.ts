/**
 * The stack's observability: the stage dashboard, each alarm and its SNS actions, JSON access
 * logs, tracing per stage, and the permissions behind `/metrics` and `/health`'s backlog
 * checks. These tests read templates only, so bundling is skipped.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { BUNDLING_STACKS } from 'aws-cdk-lib/cx-api';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { STREAM_CONSUMERS } from '@shared/catalog/stream-consumers';
import { FAILURE_QUEUE_URLS_VARIABLE } from '@shared/health/backlog-checks';
import { METRIC_NAMESPACE, METRICS } from '@shared/metrics/metric-catalog';
import { ACCESS_LOG_FIELDS } from '@infra/constructs/http-api';
import { GatewayStack, type GatewayStackProps } from '@infra/gateway-stack';
import { gatewayFunctionName } from '@infra/naming';
import { STAGE_CONFIG, STAGES } from '@infra/stage-config';
import {
  actionsOf,
  environmentOf,
  functionOf,
  refusalCode,
  singleResource,
  statementsOf,
  type TemplateResource,
} from '@test/unit/infra/template-queries';

const TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:blux-oncall';

interface Built {
  readonly stack: GatewayStack;
  readonly template: Template;
}

const build = (props: Partial<GatewayStackProps> = {}): Built => {
  const app = new App({ context: { [BUNDLING_STACKS]: [] } });
  const stack = new GatewayStack(app, 'Observed', { stage: 'dev', ...props });

  return { stack, template: Template.fromStack(stack) };
};

/** Prod with an operator's on-call topic, imported by its ARN as a real one would be. */
const buildWithTopic = (): Built => {
  const app = new App({ context: { [BUNDLING_STACKS]: [] } });
  const topic = Topic.fromTopicArn(new Stack(app, 'OnCall'), 'Topic', TOPIC_ARN);
  const stack = new GatewayStack(app, 'Notifying', { stage: 'prod', alarmTopic: topic });

  return { stack, template: Template.fromStack(stack) };
};

let dev: Built;
let notifying: Built;

beforeAll(() => {
  dev = build();
  notifying = buildWithTopic();
}, 120_000);

/** Every function of the stack whose throttles alarm: all but CDK's own custom resources. */
const watchedFunctionCount = (): number =>
  dev.stack.routeFunctions.size +
  dev.stack.streamConsumerFunctions.size +
  dev.stack.scheduledFunctions.size +
  dev.stack.eventStreamApi.routes.size +
  // The WebSocket API's authorizer and one function per handler module.
  1 +
  dev.stack.websocketApi.routeFunctions.size;

const alarmNamed = (template: Template, name: string): TemplateResource =>
  singleResource(template, 'AWS::CloudWatch::Alarm', { AlarmName: name })[1];

const alarmNames = (template: Template): string[] =>
  Object.values(template.findResources('AWS::CloudWatch::Alarm')).map(
    (alarm) => alarm.Properties.AlarmName as string,
  );

describe('the stage dashboard', () => {
  it('GIVEN dev WHEN it synthesizes THEN one dashboard names the stage', () => {
    const [, dashboard] = singleResource(dev.template, 'AWS::CloudWatch::Dashboard', {
      DashboardName: 'blux-dev-gateway',
    });

    expect(dashboard.Properties.DashboardBody).toBeDefined();
  });

  it('GIVEN the catalog WHEN the dashboard is drawn THEN every gateway metric has a graph', () => {
    const body = JSON.stringify(dev.template.toJSON());

    for (const metric of METRICS) {
      expect(body, metric.name).toContain(`MetricName=\\\\\\"${metric.name}\\\\\\"`);
    }
    expect(body).toContain(`{${METRIC_NAMESPACE},stage,route,status_class}`);
    for (const title of ['Requests, 4xx and 5xx', 'Latency (ms)', 'Function throttles']) {
      expect(body).toContain(title);
    }
    // The alarm status widget lists every alarm of the stage by its ARN.
    expect(body).toContain('\\"type\\":\\"alarm\\"');
    const [, dashboard] = singleResource(dev.template, 'AWS::CloudWatch::Dashboard', {});
    const dashboardBody = JSON.stringify(dashboard.Properties.DashboardBody);
    for (const alarmId of Object.keys(dev.template.findResources('AWS::CloudWatch::Alarm'))) {
      expect(dashboardBody, alarmId).toContain(`{"Fn::GetAtt":["${alarmId}","Arn"]}`);
    }
  });
});

describe('the alarms', () => {
  it('GIVEN dev WHEN it synthesizes THEN each kind of alarm exists once per subject', () => {
    const consumers = STREAM_CONSUMERS.map((consumer) => `blux-dev-deadLetters-${consumer.id}`);
    const throttleAlarms = Array.from(
      { length: Math.ceil(watchedFunctionCount() / 10) },
      (_, index) => `blux-dev-throttles-${index}`,
    );

    expect(alarmNames(dev.template).sort()).toEqual(
      [
        'blux-dev-errorRate',
        'blux-dev-p99Latency',
        ...throttleAlarms,
        'blux-dev-sealingLag',
        'blux-dev-fanOutFailures',
        ...consumers,
      ].sort(),
    );
  });

  it('GIVEN the error rate WHEN read THEN it is 5xx over requests of the API, in percent', () => {
    const alarm = alarmNamed(dev.template, 'blux-dev-errorRate').Properties;
    const metrics = alarm.Metrics as { Id: string; Expression?: string; MetricStat?: unknown }[];

    expect(alarm.Threshold).toBe(5);
    expect(alarm.ComparisonOperator).toBe('GreaterThanThreshold');
    expect(metrics.find((metric) => metric.Expression !== undefined)?.Expression).toBe(
      'IF(requests > 0, 100 * errors / requests, 0)',
    );
    expect(JSON.stringify(metrics)).toContain('"MetricName":"5xx"');
    expect(JSON.stringify(metrics)).toContain('"MetricName":"Count"');
  });

  it('GIVEN p99 latency WHEN read THEN it is the API latency p99 over 2 s', () => {
    expect(alarmNamed(dev.template, 'blux-dev-p99Latency').Properties).toMatchObject({
      Namespace: 'AWS/ApiGateway',
      MetricName: 'Latency',
      ExtendedStatistic: 'p99',
      Threshold: 2000,
      Period: 300,
      TreatMissingData: 'notBreaching',
    });
  });

  it('GIVEN the functions WHEN throttles are watched THEN every function is in the sum', () => {
    const alarms = alarmNames(dev.template)
      .filter((name) => name.startsWith('blux-dev-throttles-'))
      .map((name) => alarmNamed(dev.template, name).Properties);
    const body = JSON.stringify(alarms.map((alarm) => alarm.Metrics));

    expect(alarms.map((alarm) => alarm.Threshold)).toEqual(alarms.map(() => 0));
    expect(body.match(/"MetricName":"Throttles"/g)).toHaveLength(watchedFunctionCount());
  });

  it('GIVEN each consumer WHEN its queue is watched THEN any batch in it alarms', () => {
    for (const consumer of STREAM_CONSUMERS) {
      const alarm = alarmNamed(dev.template, `blux-dev-deadLetters-${consumer.id}`).Properties;

      expect(alarm).toMatchObject({
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    }
  });

  it('GIVEN the sealer WHEN its lag is watched THEN it is its IteratorAge over 5 minutes', () => {
    const alarm = alarmNamed(dev.template, 'blux-dev-sealingLag').Properties;

    expect(alarm).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'IteratorAge',
      Statistic: 'Maximum',
      Threshold: 300_000,
    });
    const [sealer] = singleResource(dev.template, 'AWS::Lambda::Function', {
      FunctionName: gatewayFunctionName('dev', 'sealAudit'),
    });
    expect(alarm.Dimensions).toEqual([{ Name: 'FunctionName', Value: { Ref: sealer } }]);
  });

  it('GIVEN the channels WHEN fan-out is watched THEN FanOutFailures of the stage are summed', () => {
    const alarm = alarmNamed(dev.template, 'blux-dev-fanOutFailures').Properties;
    const body = JSON.stringify(alarm.Metrics);

    expect(body).toContain(`"Namespace":"${METRIC_NAMESPACE}"`);
    expect(body).toContain('"MetricName":"FanOutFailures"');
    expect(body).toContain('{"Name":"stage","Value":"dev"}');
    expect(alarm.Threshold).toBe(10);
  });

  it('GIVEN no topic WHEN alarms synthesize THEN none has an action', () => {
    const withActions = dev.template.findResources('AWS::CloudWatch::Alarm', {
      Properties: { AlarmActions: Match.anyValue() },
    });

    expect(Object.keys(withActions)).toEqual([]);
  });

  it('GIVEN a topic WHEN alarms synthesize THEN every alarm notifies it on alarm and on OK', () => {
    const alarms = Object.values(notifying.template.findResources('AWS::CloudWatch::Alarm'));

    expect(alarms.length).toBeGreaterThanOrEqual(6);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions, alarm.Properties.AlarmName).toEqual([TOPIC_ARN]);
      expect(alarm.Properties.OKActions, alarm.Properties.AlarmName).toEqual([TOPIC_ARN]);
    }
  });

  it('GIVEN a negative or impossible threshold WHEN the stack builds THEN it is refused', () => {
    const app = new App({ context: { [BUNDLING_STACKS]: [] } });

    expect(
      refusalCode(
        () =>
          new GatewayStack(app, 'Negative', {
            stage: 'dev',
            alarmThresholds: { p99LatencyMs: -1 },
          }),
      ),
    ).toBe('gatewayObservability.invalidThreshold');
    expect(
      refusalCode(
        () =>
          new GatewayStack(app, 'OverHundred', {
            stage: 'dev',
            alarmThresholds: { errorRatePercent: 150 },
          }),
      ),
    ).toBe('gatewayObservability.invalidThreshold');
  });
});

describe('access logs and tracing', () => {
  it('GIVEN the API stage WHEN it logs THEN each line is a JSON object of the declared fields', () => {
    const [, stage] = singleResource(dev.template, 'AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
    });
    const format = (stage.Properties.AccessLogSettings as { Format: string }).Format;

    expect(JSON.parse(format)).toEqual(ACCESS_LOG_FIELDS);
    expect(format).toContain('"requestId":"$context.requestId"');
    expect(format).toContain('"status":"$context.status"');
    expect(format).toContain('"integrationRequestId":"$context.integration.requestId"');
  });

  it.each(STAGES)('GIVEN stage %s WHEN it synthesizes THEN functions trace as it says', (stage) => {
    const { template } = stage === 'dev' ? dev : build({ stage });
    const tracing = functionOf(template, gatewayFunctionName(stage, 'getMetrics')).TracingConfig;

    expect(tracing).toEqual(STAGE_CONFIG[stage].tracing ? { Mode: 'Active' } : undefined);
  });

  it('GIVEN dev with tracing on WHEN it synthesizes THEN every function traces', () => {
    const { template } = build({ tracing: true });
    const functions = Object.values(template.findResources('AWS::Lambda::Function'));

    expect(functions.length).toBeGreaterThan(0);
    for (const fn of functions) {
      expect(fn.Properties.TracingConfig, String(fn.Properties.FunctionName)).toEqual({
        Mode: 'Active',
      });
    }
  });
});

describe('the routes behind /metrics and /health', () => {
  it('GIVEN the metrics route WHEN its role is read THEN it may read CloudWatch metrics', () => {
    const statements = statementsOf(dev.template, gatewayFunctionName('dev', 'getMetrics'));
    const cloudWatch = statements.filter((statement) =>
      actionsOf(statement).includes('cloudwatch:GetMetricData'),
    );

    const [statement] = cloudWatch;
    expect(cloudWatch).toHaveLength(1);
    expect(statement === undefined ? [] : actionsOf(statement)).toEqual(
      expect.arrayContaining(['cloudwatch:GetMetricData', 'cloudwatch:ListMetrics']),
    );
    expect(statement?.Resource).toBe('*');
  });

  it('GIVEN no other route WHEN roles are read THEN none may read CloudWatch metrics', () => {
    for (const routeId of dev.stack.routeFunctions.keys()) {
      if (routeId === 'getMetrics') {
        continue;
      }
      const statements = statementsOf(dev.template, gatewayFunctionName('dev', routeId));

      expect(statements.flatMap(actionsOf), routeId).not.toContain('cloudwatch:GetMetricData');
    }
  });

  it('GIVEN the health route WHEN it starts THEN it knows every failure queue and may read it', () => {
    const healthName = gatewayFunctionName('dev', 'getHealth');
    const variable = environmentOf(dev.template, healthName)[FAILURE_QUEUE_URLS_VARIABLE];
    const statements = statementsOf(dev.template, healthName);

    // A JSON object whose URLs CloudFormation fills in: its literal parts name the consumers.
    const [, parts] = (variable as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
    const literal = parts.filter((part) => typeof part === 'string').join('');
    const queueRefs = parts.filter((part) => typeof part === 'object');
    expect(literal.startsWith('{')).toBe(true);
    for (const consumer of STREAM_CONSUMERS) {
      expect(literal).toContain(`"${consumer.id}":"`);
    }
    expect(queueRefs).toHaveLength(STREAM_CONSUMERS.length);
    expect(
      statements.filter((statement) => actionsOf(statement).includes('sqs:GetQueueAttributes')),
    ).toHaveLength(STREAM_CONSUMERS.length);
  });
});

describe('cdk-nag', () => {
  it.each([
    ['dev', (): Built => dev],
    ['prod with an alarm topic', (): Built => notifying],
  ])('GIVEN %s WHEN the AwsSolutions pack checks it THEN nothing is left open', (_, built) => {
    const findings = new AwsSolutionsChecks()
      .validateScope(built().stack)
      .violations.map((violation) => violation.ruleName);

    expect(findings).toEqual([]);
  });
});
