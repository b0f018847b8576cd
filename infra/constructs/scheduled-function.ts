/**
 * A function that an EventBridge rule invokes on a fixed rate, from its catalog declaration
 * (`shared/catalog/schedules.ts`). A missed or failed invocation is not retried: the next one
 * comes within the rate anyway and does the same work, so a retry would only overlap it.
 */
import { Duration } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import type { ScheduleDeclaration } from '@shared/catalog/schedules';
import { InfraConfigError } from '@infra/infra-error';
import { CATALOG_ID_PATTERN, gatewayFunctionName } from '@infra/naming';
import {
  GatewayFunction,
  passThroughSettings,
  type GatewayFunctionSettings,
} from './gateway-function';

/** EventBridge rates are whole minutes; a day is as slow as a sweep may sensibly be. */
const MAX_RATE_MINUTES = 24 * 60;

/** Props of `ScheduledFunction`; every optional one falls back to the stage's config. */
export interface ScheduledFunctionProps extends Omit<GatewayFunctionSettings, 'timeout'> {
  readonly schedule: ScheduleDeclaration;
}

export class ScheduledFunction extends Construct {
  readonly schedule: ScheduleDeclaration;
  readonly function: NodejsFunction;
  readonly rule: Rule;

  constructor(scope: Construct, id: string, props: ScheduledFunctionProps) {
    super(scope, id);

    const { schedule, stage, tables } = props;
    assertValidSchedule(schedule);
    this.schedule = schedule;
    const functionName = gatewayFunctionName(stage, schedule.id);

    const gatewayFunction = new GatewayFunction(this, 'Handler', {
      handler: schedule.handler,
      functionName,
      description: `BLUX gateway ${stage}: runs every ${schedule.rateMinutes} min`,
      stage,
      tables,
      tableAccess: schedule.tables,
      timeout: Duration.seconds(schedule.timeoutSeconds),
      ...passThroughSettings(props),
    });
    this.function = gatewayFunction.function;

    this.rule = new Rule(this, 'Rule', {
      description: `Invokes ${functionName} every ${schedule.rateMinutes} min`,
      schedule: Schedule.rate(Duration.minutes(schedule.rateMinutes)),
      targets: [
        new LambdaFunction(this.function, {
          retryAttempts: 0,
          maxEventAge: Duration.minutes(schedule.rateMinutes),
        }),
      ],
    });
  }
}

const assertValidSchedule = (schedule: ScheduleDeclaration): void => {
  if (!CATALOG_ID_PATTERN.test(schedule.id)) {
    throw new InfraConfigError(
      'scheduledFunction.invalidScheduleId',
      `schedule id ${JSON.stringify(schedule.id)} is not plain camelCase`,
      { scheduleId: schedule.id },
    );
  }
  const rate = schedule.rateMinutes;
  if (!Number.isInteger(rate) || rate < 1 || rate > MAX_RATE_MINUTES) {
    throw new InfraConfigError(
      'scheduledFunction.rateOutOfRange',
      `schedule ${schedule.id} runs every ${rate} min; ` +
        `it must be a whole number in 1-${MAX_RATE_MINUTES}`,
      { scheduleId: schedule.id, rateMinutes: rate },
    );
  }
};
