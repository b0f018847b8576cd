/**
 * What differs between the gateway's stages, in one typed object. Constructs take their
 * defaults from here, so a stage is changed in this file and nowhere else.
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { isStage, STAGES, type Stage } from '@shared/catalog/stages';
import { stageThrottleFor } from '@shared/rate-limit/rate-limit-config';
import { InfraConfigError } from './infra-error';

// The stage list lives in the catalog, where the clients CLI reads it too; it is re-exported
// here so that the CDK app and its tests find every stage setting in one module.
export { isStage, STAGES, type Stage };

/** The stage `cdk synth` builds when no `-c stage=...` is given. */
export const DEFAULT_STAGE: Stage = 'dev';

/**
 * API Gateway abandons a Lambda integration after this long and answers 503 itself, whatever
 * the function goes on to do; a route function must finish well before it.
 */
export const API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS = 30;

/** The levels the shared logger accepts through `LOG_LEVEL`. */
export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

/**
 * The stage-wide ceiling API Gateway enforces before any function runs. The per-client rate
 * limits are the gateway's own; these only protect the account when those are bypassed.
 */
export interface StageThrottle {
  /** Steady-state requests per second across the whole API. */
  readonly rateLimitPerSecond: number;
  /** Requests API Gateway lets through at once above the steady rate. */
  readonly burstLimit: number;
}

/** The settings of one stage. */
export interface StageConfig {
  /** How long function logs and API access logs are kept. */
  readonly logRetention: RetentionDays;
  /** What `cdk destroy` does to tables, log groups and queues; `retainAlways` tables are kept. */
  readonly removalPolicy: RemovalPolicy;
  /** Tables refuse deletion, even by CloudFormation, until this is turned off. */
  readonly deletionProtection: boolean;
  /**
   * API Gateway's stage throttle, derived from the rate-limit configuration
   * (`stageThrottleFor`): the steady rate of a number of identities at their full per-second
   * burst at once, so the outer guard and the gateway's own limits cannot disagree.
   */
  readonly throttle: StageThrottle;
  readonly memorySizeMb: number;
  /** Below `API_GATEWAY_INTEGRATION_TIMEOUT_SECONDS`, so a slow call ends in our own error. */
  readonly functionTimeoutSeconds: number;
  /** Active X-Ray tracing on every function. */
  readonly tracing: boolean;
  readonly logLevel: LogLevel;
}

/** Per-stage settings; read them through a construct's defaults rather than copying them. */
export const STAGE_CONFIG = {
  dev: {
    logRetention: RetentionDays.ONE_WEEK,
    removalPolicy: RemovalPolicy.DESTROY,
    deletionProtection: false,
    throttle: stageThrottleFor(1),
    memorySizeMb: 512,
    functionTimeoutSeconds: 10,
    tracing: false,
    logLevel: 'DEBUG',
  },
  staging: {
    logRetention: RetentionDays.ONE_MONTH,
    removalPolicy: RemovalPolicy.RETAIN,
    deletionProtection: false,
    throttle: stageThrottleFor(2),
    memorySizeMb: 512,
    functionTimeoutSeconds: 10,
    tracing: true,
    logLevel: 'INFO',
  },
  prod: {
    logRetention: RetentionDays.ONE_YEAR,
    removalPolicy: RemovalPolicy.RETAIN,
    deletionProtection: true,
    throttle: stageThrottleFor(10),
    // More memory also buys more CPU on Lambda, which shortens cold starts where users feel them.
    memorySizeMb: 1024,
    functionTimeoutSeconds: 10,
    tracing: true,
    logLevel: 'INFO',
  },
} as const satisfies Record<Stage, StageConfig>;

/**
 * The value itself, when it names a stage.
 *
 * @throws InfraConfigError `stageConfig.unknownStage` for anything else, so a typo never
 *   deploys a stack with a name nobody meant.
 */
export const assertStage = (value: unknown): Stage => {
  if (!isStage(value)) {
    throw new InfraConfigError(
      'stageConfig.unknownStage',
      `stage ${JSON.stringify(value)} is not one of ${STAGES.join(', ')}; ` +
        `pass -c stage=${STAGES.join('|')}`,
      { stage: value, allowed: STAGES },
    );
  }

  return value;
};

/** The stage a `-c stage=...` context value asks for; absent means `DEFAULT_STAGE`. */
export const resolveStage = (value: unknown): Stage =>
  value === undefined || value === null ? DEFAULT_STAGE : assertStage(value);
