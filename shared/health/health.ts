/**
 * Health of the three BLUX services, computed from real checks of what each depends on. A
 * check that fails or times out makes its service `unhealthy`; one that answers slowly, or
 * that reads a backlog over its limit (entries waiting to be sealed, batches in a failure
 * queue), makes it `degraded`. The gateway as a whole is as healthy as its least healthy
 * service.
 */
import type { ServiceName } from '@shared/catalog/services';

export const HEALTH_CHECK_TIMEOUT_MS = 1_000;
export const HEALTH_CHECK_SLOW_MS = 250;

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

/** What a backlog check read: how much is waiting, in what unit, and how much is too much. */
export interface BacklogReading {
  readonly value: number;
  readonly unit: 'ms' | 'messages';
  /** Above this the check reports `backlog` and its service is degraded. */
  readonly limit: number;
}

/**
 * One dependency probe; it rejects when the dependency does not answer properly. A probe that
 * measures a backlog resolves with its reading; others resolve with nothing.
 */
export interface HealthCheck {
  readonly name: string;
  readonly probe: (signal: AbortSignal) => Promise<BacklogReading | void>;
}

export interface CheckResult {
  readonly name: string;
  /** `slow`: answered after `slowMs`; `backlog`: its reading is over its limit. */
  readonly status: 'pass' | 'slow' | 'backlog' | 'fail';
  readonly latency_ms: number;
  readonly backlog?: BacklogReading;
  readonly error?: string;
}

export interface HealthReport {
  readonly status: HealthStatus;
  readonly services: Record<ServiceName, HealthStatus>;
  readonly checks: Record<ServiceName, readonly CheckResult[]>;
  readonly timestamp: string;
}

export interface HealthOptions {
  readonly timeoutMs?: number;
  readonly slowMs?: number;
  readonly now?: () => Date;
}

const RANK: Record<HealthStatus, number> = { healthy: 0, degraded: 1, unhealthy: 2 };

const worst = (statuses: readonly HealthStatus[]): HealthStatus =>
  statuses.reduce<HealthStatus>((acc, next) => (RANK[next] > RANK[acc] ? next : acc), 'healthy');

const runCheck = async (check: HealthCheck, options: HealthOptions): Promise<CheckResult> => {
  const timeoutMs = options.timeoutMs ?? HEALTH_CHECK_TIMEOUT_MS;
  const started = performance.now();
  const signal = AbortSignal.timeout(timeoutMs);
  const timedOut = new Promise<never>((_, reject) => {
    signal.addEventListener('abort', () => reject(new Error(`no answer in ${timeoutMs} ms`)));
  });

  try {
    const reading = await Promise.race([check.probe(signal), timedOut]);
    const latency = Math.round(performance.now() - started);
    const slow = latency > (options.slowMs ?? HEALTH_CHECK_SLOW_MS);
    // A backlog check is judged by its reading; how fast its store answers is the table
    // probes' concern, and a reading taken slowly is still true.
    const status =
      reading === undefined
        ? slow
          ? 'slow'
          : 'pass'
        : reading.value > reading.limit
          ? 'backlog'
          : 'pass';

    return {
      name: check.name,
      status,
      latency_ms: latency,
      ...(reading === undefined ? {} : { backlog: reading }),
    };
  } catch (error) {
    return {
      name: check.name,
      status: 'fail',
      latency_ms: Math.round(performance.now() - started),
      error: error instanceof Error ? error.name : 'Error',
    };
  }
};

const serviceStatus = (results: readonly CheckResult[]): HealthStatus => {
  if (results.some((result) => result.status === 'fail')) {
    return 'unhealthy';
  }

  const degraded = results.some(
    (result) => result.status === 'slow' || result.status === 'backlog',
  );

  return degraded ? 'degraded' : 'healthy';
};

/** Runs every service's checks in parallel, each bounded by the timeout. */
export const evaluateHealth = async (
  checks: Record<ServiceName, readonly HealthCheck[]>,
  options: HealthOptions = {},
): Promise<HealthReport> => {
  const names = Object.keys(checks) as ServiceName[];
  const results = await Promise.all(
    names.map((name) => Promise.all(checks[name].map((check) => runCheck(check, options)))),
  );
  const services = {} as Record<ServiceName, HealthStatus>;
  const details = {} as Record<ServiceName, readonly CheckResult[]>;
  names.forEach((name, index) => {
    const serviceResults = results[index] ?? [];
    services[name] = serviceStatus(serviceResults);
    details[name] = serviceResults;
  });

  return {
    status: worst(Object.values(services)),
    services,
    checks: details,
    timestamp: (options.now?.() ?? new Date()).toISOString(),
  };
};
