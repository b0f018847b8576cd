/**
 * Questions the infrastructure tests ask of a synthesized template: which resource, which
 * function, which policy statements a function's role carries, and which code a refusal had.
 */
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { expect } from 'vitest';
import { InfraConfigError } from '@infra/infra-error';

export interface PolicyStatement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
}

export interface TemplateResource {
  readonly Properties: Record<string, unknown>;
}

/** The one resource of `type` with these properties; fails the test unless exactly one. */
export const singleResource = (
  template: Template,
  type: string,
  properties: Record<string, unknown>,
): [string, TemplateResource] => {
  const found = Object.entries(template.findResources(type, { Properties: properties }));
  expect(found, `${type} matching ${JSON.stringify(properties)}`).toHaveLength(1);

  return found[0] as [string, TemplateResource];
};

/** The properties of the function with this physical name. */
export const functionOf = (template: Template, functionName: string): Record<string, unknown> =>
  singleResource(template, 'AWS::Lambda::Function', { FunctionName: functionName })[1].Properties;

/** The environment variables of the function with this physical name. */
export const environmentOf = (template: Template, functionName: string): Record<string, unknown> =>
  (functionOf(template, functionName).Environment as { Variables: Record<string, unknown> })
    .Variables;

/** The logical id of the role the named function runs as. */
export const roleOf = (template: Template, functionName: string): string =>
  (functionOf(template, functionName).Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];

/** Every statement of every policy attached to the role of the named function. */
export const statementsOf = (template: Template, functionName: string): PolicyStatement[] => {
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: Match.arrayWith([{ Ref: roleOf(template, functionName) }]) },
  });

  return Object.values(policies).flatMap(
    (policy) => policy.Properties.PolicyDocument.Statement as PolicyStatement[],
  );
};

export const actionsOf = (statement: PolicyStatement): string[] =>
  Array.isArray(statement.Action) ? statement.Action : [statement.Action];

export const onResource = (statement: PolicyStatement, logicalId: string): boolean =>
  JSON.stringify(statement.Resource).includes(`"${logicalId}"`);

/** The code of the InfraConfigError a build throws; undefined when it builds. */
export const refusalCode = (build: () => unknown): string | undefined => {
  try {
    build();
  } catch (error) {
    if (error instanceof InfraConfigError) {
      return error.code;
    }
    throw error;
  }

  return undefined;
};
