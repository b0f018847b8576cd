/**
 * The stages the gateway deploys to, declared once. The CDK app builds one stack per stage and
 * the clients CLI targets a stage's tables by this name; this file imports nothing, so a small
 * tool can read the list without loading the CDK library.
 */

/** Each stage is its own stack, with its own tables, functions and token signing key. */
export const STAGES = ['dev', 'staging', 'prod'] as const;

export type Stage = (typeof STAGES)[number];

/** Whether a value names one of the deployable stages. */
export const isStage = (value: unknown): value is Stage =>
  typeof value === 'string' && (STAGES as readonly string[]).includes(value);
