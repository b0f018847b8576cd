/**
 * Which executor runs each internal task type. The built-in ones are fixed here; the local
 * runtime may add types with their executors before it loads any handler (its
 * `extraTaskTypes` option), which is how the end-to-end tests get an executor that fails on
 * purpose or runs long. Handlers run in the same process there, so this module-level registry
 * is the one they read. Nothing in the CDK stack registers a type, so no test-only type can
 * exist in a deployed stage.
 */
import {
  DATA_ANALYSIS_TASK_TYPE,
  findTaskType,
  registerTaskType,
  unregisterTaskType,
  type TaskType,
} from '@shared/tasks/task-types';
import { gatewayDatasetStore } from './dataset-stores';
import { dataAnalysisExecutor } from './data-analysis-executor';
import type { TaskExecutor } from './task-executor';

/** A task type together with the executor that runs it. */
export interface ExecutableTaskType {
  readonly type: TaskType;
  readonly executor: TaskExecutor;
}

export type ExecutorRegistryErrorCode = 'executorRegistry.duplicateType';

/** Registering a type twice, or one that hides a built-in type: a mistake in the set-up. */
export class ExecutorRegistryError extends Error {
  override readonly name = 'ExecutorRegistryError';
  readonly code: ExecutorRegistryErrorCode = 'executorRegistry.duplicateType';

  constructor(readonly typeName: string) {
    super(`executorRegistry.duplicateType: task type ${typeName} is already registered`);
  }
}

const BUILT_IN_EXECUTORS: Readonly<Record<string, TaskExecutor>> = {
  [DATA_ANALYSIS_TASK_TYPE.name]: dataAnalysisExecutor(gatewayDatasetStore),
};

const registered = new Map<string, ExecutableTaskType>();

/**
 * Adds a task type and its executor to this process. For the local runtime and tests only;
 * throws `executorRegistry.duplicateType` for a name that is built in or already registered.
 */
export const registerTaskExecutor = (entry: ExecutableTaskType): void => {
  const name = entry.type.name;
  if (findTaskType(name) !== undefined || registered.has(name)) {
    throw new ExecutorRegistryError(name);
  }
  registered.set(name, entry);
  // The Tasks API validates `type` against the type registry: the type must be creatable too.
  registerTaskType(entry.type);
};

/** Removes a type `registerTaskExecutor` added; for tests that clean up after themselves. */
export const unregisterTaskExecutor = (name: string): void => {
  if (registered.delete(name)) {
    unregisterTaskType(name);
  }
};

/** The types registered in this process beyond the built-in ones. */
export const registeredTaskTypes = (): TaskType[] =>
  [...registered.values()].map((entry) => entry.type);

/** The type called `name`, built in or registered, or `undefined`. */
export const findExecutableTaskType = (name: string): TaskType | undefined => findTaskType(name);

/** The executor of an internal type, or `undefined` for an external or unknown one. */
export const executorFor = (type: TaskType): TaskExecutor | undefined => {
  if (type.execution !== 'internal') {
    return undefined;
  }

  return BUILT_IN_EXECUTORS[type.name] ?? registered.get(type.name)?.executor;
};
