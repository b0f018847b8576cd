/**
 * Sealed audit trails for the audit tests: entries spread over a few chains, each chain sealed in
 * two batches (so that the second starts from a head), listed chain after chain interleaved the
 * way an export mixes them. Keys are made by each test.
 */
import type { JsonWebKey } from 'node:crypto';
import type {
  AuditCheckpoint,
  AuditEntryInput,
  SealedAuditEntry,
  UnsealedAuditEntry,
} from '@shared/audit/audit-entry';
import { auditChainOf, newAuditEntry } from '@shared/audit/audit-ids';
import { sealAuditEntries, type AuditChainHead } from '@shared/audit/audit-seal';
import { toPublishedAuditJwk, type AuditSigningKey } from '@shared/audit/audit-signing-key';

export const FIXTURE_START = new Date('2025-01-01T00:00:00.000Z');

/** A plausible input; each test changes what it is about. */
export const entryInput = (overrides: Partial<AuditEntryInput> = {}): AuditEntryInput => ({
  service: 'blux-lite',
  operation: 'task.create',
  identity: 'service:billing',
  outcome: 'success',
  requestId: 'req-1',
  resource: { type: 'task', id: 'tsk_1' },
  details: { priority: 3, queue: 'default', retried: false, note: null },
  ...overrides,
});

/** `count` unsealed entries of each of `chains` distinct chains, one millisecond apart. */
export const entriesByChain = (
  chains: number,
  count: number,
  start: Date = FIXTURE_START,
): UnsealedAuditEntry[][] => {
  const byChain = new Map<number, UnsealedAuditEntry[]>();
  let made = 0;
  const full = () => [...byChain.values()].filter((list) => list.length >= count);
  while (full().length < chains) {
    const entry = newAuditEntry(
      entryInput({ requestId: `req-${made}`, details: { n: made, kind: 'fixture' } }),
      new Date(start.getTime() + made),
    );
    made += 1;
    const chain = auditChainOf(entry.audit_id);
    const list = byChain.get(chain) ?? [];
    if (list.length < count) {
      list.push(entry);
      byChain.set(chain, list);
    }
  }

  return full().slice(0, chains);
};

export interface Trail {
  readonly entries: SealedAuditEntry[];
  readonly checkpoints: AuditCheckpoint[];
  readonly keys: JsonWebKey[];
}

/** Seals one chain's entries in two batches, as the sealer would over two runs. */
export const sealChain = (
  entries: readonly UnsealedAuditEntry[],
  key: AuditSigningKey,
  head?: AuditChainHead,
): { sealed: SealedAuditEntry[]; checkpoint: AuditCheckpoint } => {
  const half = Math.ceil(entries.length / 2);
  // The sealer runs a moment after the entries were written.
  const last = entries.at(-1);
  const now = new Date(Date.parse(last?.timestamp ?? FIXTURE_START.toISOString()) + 1_000);
  const first = sealAuditEntries({ head, entries: entries.slice(0, half), key, now });
  const rest = entries.slice(half);
  const second = sealAuditEntries({ head: first.checkpoint, entries: rest, key, now });

  return { sealed: [...first.sealed, ...second.sealed], checkpoint: second.checkpoint };
};

/** A sealed trail of `chains` chains of `count` entries, interleaved, with its checkpoints. */
export const sealedTrail = (key: AuditSigningKey, chains = 3, count = 4): Trail => {
  const sealedChains = entriesByChain(chains, count).map((list) => sealChain(list, key));
  const entries: SealedAuditEntry[] = [];
  for (let position = 0; position < count; position += 1) {
    for (const chain of sealedChains) {
      const entry = chain.sealed[position];
      if (entry !== undefined) {
        entries.push(entry);
      }
    }
  }

  return {
    entries,
    checkpoints: sealedChains.map((chain) => chain.checkpoint),
    keys: [toPublishedAuditJwk(key)],
  };
};

/** A deep copy that a test may change freely. */
export const copyOf = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
