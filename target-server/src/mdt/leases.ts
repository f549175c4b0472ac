import type { Logger } from '@kubelustre/protocol/log.ts';
import type { Mdt } from './namespace.ts';
import { clientsWithOpens, dropClientOpens } from './open-files.ts';
import { rwHolders } from './pcc.ts';
import type { Store } from './store.ts';

/** How long a client holding opens may stay silent before the MDT drops them (Lustre evicts after ~obd_timeout). */
export const OPEN_LEASE_MS_DEFAULT = 10 * 60 * 1000;
/** Eviction notices kept for clients that never came back to hear them: far longer than any lease. */
const EVICTED_KEEP_MS = 24 * 60 * 60 * 1000;

/**
 * When each client holding opens was last heard from (mdt.open, mdt.close, mdt.renew). Kept in memory:
 * after an MDT restart every client with opens in the store starts with a full lease, the analogue of
 * Lustre's recovery window in which clients reconnect before anyone is evicted.
 */
export class ClientLeases {
  readonly #seenMs = new Map<string, number>();

  touch(client: string, nowMs: number): void {
    this.#seenMs.set(client, nowMs);
  }

  /**
   * Of `holders` (the clients with opens), those silent for `leaseMs` or more. A holder never heard from
   * by this instance counts as heard from now; clients no longer holding opens are forgotten.
   */
  expired(holders: readonly string[], nowMs: number, leaseMs: number): string[] {
    const held = new Set(holders);
    for (const client of this.#seenMs.keys()) if (!held.has(client)) this.#seenMs.delete(client);
    const silent: string[] = [];
    for (const client of holders) {
      const seen = this.#seenMs.get(client);
      if (seen === undefined) this.#seenMs.set(client, nowMs);
      else if (nowMs - seen >= leaseMs) silent.push(client);
    }
    return silent;
  }

  forget(client: string): void {
    this.#seenMs.delete(client);
  }
}

/**
 * Evicts clients silent past their lease: their opens are dropped (orphans only they held are freed,
 * their objects logged for destroy) and a notice kept that the client's next mdt.renew answers, one
 * transaction per client.
 */
export function evictSilentClients(m: Mdt, leases: ClientLeases, leaseMs: number, log: Logger): void {
  const nowMs = Date.now();
  const holders = [...new Set([...clientsWithOpens(m.store), ...rwHolders(m.store)])];
  for (const client of leases.expired(holders, nowMs, leaseMs)) {
    const dropped = m.store.txn(() => {
      m.store.run('INSERT OR REPLACE INTO evicted_clients (client, at_ms) VALUES (?, ?)', client, nowMs);
      return dropClientOpens(m, client);
    });
    leases.forget(client);
    log.warn(
      { clientUuid: client, leaseMs, ...dropped },
      'Evicted a client silent past its lease; dropped its opens',
    );
  }
}

/** Whether `client` was evicted since it last asked; asking clears the notice. Call inside a transaction. */
export function takeEvictionNotice(store: Store, client: string): boolean {
  return store.run('DELETE FROM evicted_clients WHERE client = ?', client) > 0;
}

/** Drops eviction notices no client came back for. Call inside a transaction. */
export function pruneEvictionNotices(store: Store, nowMs: number): number {
  return store.run('DELETE FROM evicted_clients WHERE at_ms < ?', nowMs - EVICTED_KEEP_MS);
}
