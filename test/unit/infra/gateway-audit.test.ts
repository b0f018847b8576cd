/**
 * The audit trail's infrastructure: who may write entries and how, what the sealer may change,
 * who writes checkpoints, how long entries are kept and who may read the two audit secrets.
 * These tests read templates only, so bundling is skipped.
 */
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROUTES, type RouteDeclaration } from '@shared/catalog/routes';
import { STREAM_CONSUMERS } from '@shared/catalog/stream-consumers';
import { physicalTableName, type TableId } from '@shared/catalog/tables';
import {
  AUDIT_PAGE_TOKEN_SECRET_ARN_VARIABLE,
  AUDIT_SECRET_LENGTH_CHARS,
  AUDIT_SIGNING_SECRET_ARN_VARIABLE,
} from '@infra/constructs/audit-secrets';
import { AUDIT_SEAL_ATTRIBUTES } from '@infra/constructs/gateway-tables';
import {
  AUDIT_LISTING_ROUTE_ID,
  TASK_LISTING_ROUTE_ID,
  AUDIT_RETENTION_DAYS_VARIABLE,
  AUDIT_SEALER_CONSUMER_ID,
  GatewayStack,
  type GatewayStackProps,
} from '@infra/gateway-stack';
import { gatewayFunctionName } from '@infra/naming';
import { STAGES, type Stage } from '@infra/stage-config';
import {
  actionsOf,
  environmentOf,
  functionOf,
  onResource,
  refusalCode,
  roleOf,
  singleResource,
  statementsOf,
  type PolicyStatement,
} from '@test/unit/infra/template-queries';

const BUNDLING_STACKS = 'aws:cdk:bundling-stacks';
const SYNTH_TIMEOUT_MS = 60_000;
const TIMEOUT = { timeout: SYNTH_TIMEOUT_MS };

const ENTRY_CHANGING_ACTIONS = [
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
];
const WRITE_ACTIONS = ['dynamodb:PutItem', ...ENTRY_CHANGING_ACTIONS];
const STREAM_ACTIONS = [
  'dynamodb:DescribeStream',
  'dynamodb:GetRecords',
  'dynamodb:GetShardIterator',
];

/** Every route the catalog lets add audit entries; the first test pins the known ones. */
const ENTRY_WRITERS = ROUTES.filter((route) => {
  const tables: RouteDeclaration['tables'] = route.tables;

  return tables.audit === 'append' || tables.audit === 'readAppend';
}).map((route) => route.id);

const synth = (props: Partial<GatewayStackProps> = {}): Template => {
  const app = new App({ context: { [BUNDLING_STACKS]: [] } });

  return Template.fromStack(new GatewayStack(app, 'Audit', { stage: 'dev', ...props }));
};

const SEALER_DECLARATION = STREAM_CONSUMERS.find(
  (consumer) => consumer.id === AUDIT_SEALER_CONSUMER_ID,
);

const templates = {} as Record<Stage, Template>;

beforeAll(() => {
  for (const stage of STAGES) {
    templates[stage] = synth({ stage });
  }
}, SYNTH_TIMEOUT_MS);

const tableId = (template: Template, stage: Stage, id: TableId): string =>
  singleResource(template, 'AWS::DynamoDB::Table', { TableName: physicalTableName(stage, id) })[0];

const secretId = (template: Template, description: RegExp): string =>
  singleResource(template, 'AWS::SecretsManager::Secret', {
    Description: Match.stringLikeRegexp(description.source),
  })[0];

const signingSecretId = (template: Template): string => secretId(template, /audit signing key/);
const pageTokenSecretId = (template: Template): string => secretId(template, /page tokens/);

/** The logical ids of the roles whose policies hold a statement matching `test`. */
const rolesWith = (template: Template, test: (statement: PolicyStatement) => boolean): string[] =>
  Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy) => {
    const statements = policy.Properties.PolicyDocument.Statement as PolicyStatement[];
    const roles = policy.Properties.Roles as { Ref: string }[];

    return statements.some(test) ? roles.map((role) => role.Ref) : [];
  });

const sealerName = (stage: Stage = 'dev'): string =>
  gatewayFunctionName(stage, AUDIT_SEALER_CONSUMER_ID);
const listingName = (stage: Stage = 'dev'): string =>
  gatewayFunctionName(stage, AUDIT_LISTING_ROUTE_ID);

describe('audit entry writers', () => {
  it('GIVEN the catalog WHEN it is read THEN some routes write audit entries', () => {
    expect(ENTRY_WRITERS).toEqual(
      expect.arrayContaining(['issueToken', 'validateIdentity', AUDIT_LISTING_ROUTE_ID]),
    );
  });

  it.each(ENTRY_WRITERS)(
    'GIVEN writer %s WHEN any stage synthesizes THEN it may put entries, never change one',
    (routeId) => {
      for (const stage of STAGES) {
        const template = templates[stage];
        const auditId = tableId(template, stage, 'audit');
        const statements = statementsOf(template, gatewayFunctionName(stage, routeId));
        const actions = statements
          .filter((statement) => onResource(statement, auditId))
          .flatMap(actionsOf);

        expect(actions, stage).toContain('dynamodb:PutItem');
        for (const action of ENTRY_CHANGING_ACTIONS) {
          expect(actions, `${stage} ${action}`).not.toContain(action);
        }
      }
    },
  );
});

describe('the audit sealer', () => {
  it('GIVEN any stage WHEN it synthesizes THEN the sealer only updates the seal fields', () => {
    for (const stage of STAGES) {
      const template = templates[stage];
      const auditId = tableId(template, stage, 'audit');
      const onAudit = statementsOf(template, sealerName(stage)).filter((statement) =>
        onResource(statement, auditId),
      );
      const itemStatements = onAudit.filter(
        (statement) => !actionsOf(statement).every((action) => STREAM_ACTIONS.includes(action)),
      );

      expect(itemStatements, stage).toEqual([
        {
          Effect: 'Allow',
          Action: 'dynamodb:UpdateItem',
          Resource: { 'Fn::GetAtt': [auditId, 'Arn'] },
          Condition: {
            'ForAllValues:StringEquals': { 'dynamodb:Attributes': [...AUDIT_SEAL_ATTRIBUTES] },
            StringEqualsIfExists: { 'dynamodb:ReturnValues': 'NONE' },
          },
        },
      ]);
    }
  });

  it('GIVEN the seal attributes WHEN read THEN they are the key and the seal fields', () => {
    expect([...AUDIT_SEAL_ATTRIBUTES].sort()).toEqual(
      ['pk', 'sk', 'chain', 'seq', 'prev_hash', 'kid', 'hash', 'signature', 'sealed_at'].sort(),
    );
  });

  it('GIVEN dev WHEN it synthesizes THEN the sealer reads the audit stream', () => {
    const template = templates.dev;
    const auditId = tableId(template, 'dev', 'audit');
    const actions = statementsOf(template, sealerName())
      .filter((statement) => onResource(statement, auditId))
      .flatMap(actionsOf);

    expect(actions).toEqual(expect.arrayContaining(STREAM_ACTIONS));
  });

  it('GIVEN dev WHEN it synthesizes THEN the sealer reads and writes the checkpoints', () => {
    const template = templates.dev;
    const checkpointsId = tableId(template, 'dev', 'auditCheckpoints');
    const actions = statementsOf(template, sealerName())
      .filter((statement) => onResource(statement, checkpointsId))
      .flatMap(actionsOf);

    expect(actions).toEqual(
      expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:Query', ...WRITE_ACTIONS]),
    );
  });

  it('GIVEN any stage WHEN it synthesizes THEN only the sealer may write checkpoints', () => {
    for (const stage of STAGES) {
      const template = templates[stage];
      const checkpointsId = tableId(template, stage, 'auditCheckpoints');
      const writers = rolesWith(
        template,
        (statement) =>
          onResource(statement, checkpointsId) &&
          actionsOf(statement).some((action) => WRITE_ACTIONS.includes(action)),
      );

      expect([...new Set(writers)], stage).toEqual([roleOf(template, sealerName(stage))]);
    }
  });

  it('GIVEN any stage WHEN it synthesizes THEN the sealer has 1024 MB, 60 s and one batch', () => {
    for (const stage of STAGES) {
      const template = templates[stage];
      const sealer = functionOf(template, sealerName(stage));
      const [sealerId] = singleResource(template, 'AWS::Lambda::Function', {
        FunctionName: sealerName(stage),
      });

      expect(sealer.MemorySize, stage).toBe(1024);
      expect(sealer.Timeout, stage).toBe(60);
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: sealerId },
        BatchSize: SEALER_DECLARATION?.batchSize,
        ParallelizationFactor: 1,
      });
    }
  });
});

describe('audit tables', () => {
  it.each(['audit', 'auditCheckpoints'] as const)(
    'GIVEN every stage WHEN it synthesizes THEN %s has PITR and deletion protection',
    (id) => {
      for (const stage of STAGES) {
        templates[stage].hasResourceProperties('AWS::DynamoDB::Table', {
          TableName: physicalTableName(stage, id),
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          DeletionProtectionEnabled: true,
        });
      }
    },
  );

  it('GIVEN dev WHEN it synthesizes THEN tables outside the audit trail stay unprotected', () => {
    templates.dev.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: physicalTableName('dev', 'tasks'),
      DeletionProtectionEnabled: false,
    });
  });
});

describe('audit retention', () => {
  it('GIVEN no retention prop WHEN dev synthesizes THEN writers keep entries 400 days', () => {
    for (const id of [...ENTRY_WRITERS, AUDIT_SEALER_CONSUMER_ID]) {
      const environment = environmentOf(templates.dev, gatewayFunctionName('dev', id));

      expect(environment[AUDIT_RETENTION_DAYS_VARIABLE], id).toBe('400');
    }
  });

  it('GIVEN a function that writes no entry WHEN dev synthesizes THEN it has no retention', () => {
    const environment = environmentOf(templates.dev, gatewayFunctionName('dev', 'getHealth'));

    expect(environment[AUDIT_RETENTION_DAYS_VARIABLE]).toBeUndefined();
  });

  it(
    'GIVEN auditRetentionDays 30 WHEN the stack synthesizes THEN writers receive 30',
    TIMEOUT,
    () => {
      const template = synth({ auditRetentionDays: 30 });

      for (const id of ENTRY_WRITERS) {
        const environment = environmentOf(template, gatewayFunctionName('dev', id));

        expect(environment[AUDIT_RETENTION_DAYS_VARIABLE], id).toBe('30');
      }
    },
  );

  it.each([0, -1, 3651, 1.5, Number.NaN])(
    'GIVEN auditRetentionDays %s WHEN the stack builds THEN auditRetentionOutOfRange',
    (days) => {
      expect(refusalCode(() => synth({ auditRetentionDays: days }))).toBe(
        'gatewayStack.auditRetentionOutOfRange',
      );
    },
  );

  it.each([1, 3650])(
    'GIVEN auditRetentionDays %s WHEN the stack builds THEN it is accepted',
    TIMEOUT,
    (days) => {
      expect(refusalCode(() => synth({ auditRetentionDays: days }))).toBeUndefined();
    },
  );
});

describe('audit secrets', () => {
  it('GIVEN any stage WHEN it synthesizes THEN both secrets are 64 generated characters', () => {
    for (const stage of STAGES) {
      const secrets = templates[stage].findResources('AWS::SecretsManager::Secret', {
        Properties: {
          GenerateSecretString: {
            PasswordLength: AUDIT_SECRET_LENGTH_CHARS,
            ExcludePunctuation: true,
          },
        },
      });

      expect(Object.keys(secrets), stage).toHaveLength(2);
    }
    expect(AUDIT_SECRET_LENGTH_CHARS).toBe(64);
  });

  it('GIVEN dev WHEN it synthesizes THEN only the signing secret survives a destroy', () => {
    const resources = templates.dev.toJSON().Resources;

    expect(resources[signingSecretId(templates.dev)].DeletionPolicy).toBe('Retain');
    expect(resources[pageTokenSecretId(templates.dev)].DeletionPolicy).toBe('Delete');
  });

  it('GIVEN prod WHEN it synthesizes THEN both secrets are retained', () => {
    const resources = templates.prod.toJSON().Resources;

    expect(resources[signingSecretId(templates.prod)].DeletionPolicy).toBe('Retain');
    expect(resources[pageTokenSecretId(templates.prod)].DeletionPolicy).toBe('Retain');
  });

  it('GIVEN any stage WHEN it synthesizes THEN only the sealer reads the signing secret', () => {
    for (const stage of STAGES) {
      const template = templates[stage];
      const secret = signingSecretId(template);
      const readers = rolesWith(template, (statement) => onResource(statement, secret));

      expect([...new Set(readers)], stage).toEqual([roleOf(template, sealerName(stage))]);
      expect(environmentOf(template, sealerName(stage))[AUDIT_SIGNING_SECRET_ARN_VARIABLE]).toEqual(
        {
          Ref: secret,
        },
      );
    }
  });

  it('GIVEN any stage WHEN it synthesizes THEN only the two listings read the token secret', () => {
    for (const stage of STAGES) {
      const template = templates[stage];
      const secret = pageTokenSecretId(template);
      const readers = rolesWith(template, (statement) => onResource(statement, secret));
      const listings = [listingName(stage), gatewayFunctionName(stage, TASK_LISTING_ROUTE_ID)];

      expect([...new Set(readers)].sort(), stage).toEqual(
        listings.map((name) => roleOf(template, name)).sort(),
      );
      for (const name of listings) {
        const environment = environmentOf(template, name);

        expect(environment[AUDIT_PAGE_TOKEN_SECRET_ARN_VARIABLE], name).toEqual({ Ref: secret });
        expect(environment.AUDIT_PAGE_TOKEN_SECRET, name).toBeUndefined();
      }
    }
  });

  it('GIVEN dev WHEN it synthesizes THEN no function environment holds a secret value', () => {
    const functions = templates.dev.findResources('AWS::Lambda::Function');

    expect(JSON.stringify(functions)).not.toMatch(/resolve:secretsmanager/);
  });

  it('GIVEN dev WHEN it synthesizes THEN the sealer grant reads secrets, nothing more', () => {
    const template = templates.dev;
    const secret = signingSecretId(template);
    const actions = statementsOf(template, sealerName())
      .filter((statement) => onResource(statement, secret))
      .flatMap(actionsOf);

    expect(actions.sort()).toEqual([
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
    ]);
  });
});
