import type { Logger } from 'pino';
import type { KubeClient } from '../k8s/client.ts';
import { microTime } from '../k8s/micro-time.ts';
import type { KubeObject } from '../k8s/objects.ts';
import { Resources } from '../k8s/resources.ts';
import { isConflict } from '../k8s/rest.ts';

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  leaseName: string;
  identity: string;
  log: Logger;
  /** A leader that has not renewed for this long has lost the lease; another instance may take it. */
  leaseDurationS?: number;
  /** How often the leader renews and a candidate tries; well under the lease duration. */
  retryPeriodMs?: number;
}

interface Lease extends KubeObject {
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const LEASE_DURATION_S_DEFAULT = 15;
const RETRY_PERIOD_MS_DEFAULT = 2000;

/**
 * Leader election on a coordination.k8s.io Lease, as client-go's leaderelection does it: the holder
 * renews `renewTime`; a candidate takes a lease whose holder has not renewed within its duration. Every
 * write carries the resourceVersion it read, so two candidates cannot both win. A leader that fails to
 * renew for a whole lease duration must stop: another instance may already be leading.
 */
export class LeaderElector {
  readonly #o: Required<LeaderElectionOptions>;
  #leader = false;
  #lastRenewMs = 0;

  constructor(opts: LeaderElectionOptions) {
    this.#o = { leaseDurationS: LEASE_DURATION_S_DEFAULT, retryPeriodMs: RETRY_PERIOD_MS_DEFAULT, ...opts };
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  /** Waits until this instance leads; false if `signal` aborted first. */
  async acquire(signal: AbortSignal): Promise<boolean> {
    while (!signal.aborted) {
      if (await this.#tryAcquireOrRenew()) {
        this.#leader = true;
        this.#o.log.info(
          { lease: this.#o.leaseName, identity: this.#o.identity },
          'Acquired the leader lease',
        );
        return true;
      }
      await sleep(this.#o.retryPeriodMs, signal);
    }
    return false;
  }

  /** Renews until `signal` aborts (resolves) or the lease is lost (resolves with the reason). */
  async keepRenewing(signal: AbortSignal): Promise<string | undefined> {
    while (!signal.aborted) {
      await sleep(this.#o.retryPeriodMs, signal);
      if (signal.aborted) return undefined;
      if (await this.#tryAcquireOrRenew()) continue;
      const sinceMs = Date.now() - this.#lastRenewMs;
      if (sinceMs >= this.#o.leaseDurationS * 1000 || (await this.#heldByOther())) {
        this.#leader = false;
        return `lost the leader lease ${this.#o.namespace}/${this.#o.leaseName} (last renewed ${sinceMs} ms ago)`;
      }
    }
    return undefined;
  }

  /** Gives the lease up so that another instance takes over at once instead of after its duration. */
  async release(): Promise<void> {
    if (!this.#leader) return;
    this.#leader = false;
    const lease = await this.#get();
    if (lease?.spec.holderIdentity !== this.#o.identity) return;
    lease.spec = { ...lease.spec, holderIdentity: '', renewTime: microTime(new Date(0)) };
    await this.#o.client.replace(lease).catch(() => {});
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { client, identity, leaseDurationS } = this.#o;
    const now = new Date();
    try {
      const lease = await this.#get();
      if (lease === undefined) {
        await client.create(this.#newLease(now));
      } else {
        const held = lease.spec.holderIdentity;
        if (held !== identity && held !== '' && held !== undefined && !expired(lease, now)) return false;
        const transitions = (lease.spec.leaseTransitions ?? 0) + (held === identity ? 0 : 1);
        const acquireTime = held === identity ? lease.spec.acquireTime : microTime(now);
        lease.spec = {
          holderIdentity: identity,
          leaseDurationSeconds: leaseDurationS,
          acquireTime,
          renewTime: microTime(now),
          leaseTransitions: transitions,
        };
        await client.replace(lease);
      }
      this.#lastRenewMs = now.getTime();
      return true;
    } catch (e) {
      if (!isConflict(e)) this.#o.log.warn({ err: e }, 'Failed to acquire or renew the leader lease');
      return false;
    }
  }

  async #heldByOther(): Promise<boolean> {
    const lease = await this.#get().catch(() => undefined);
    return lease !== undefined && lease.spec.holderIdentity !== this.#o.identity;
  }

  #get(): Promise<Lease | undefined> {
    return this.#o.client.get<Lease>(Resources.Lease, {
      namespace: this.#o.namespace,
      name: this.#o.leaseName,
    });
  }

  #newLease(now: Date): Lease {
    const { namespace, leaseName, identity, leaseDurationS } = this.#o;
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: leaseName, namespace },
      spec: {
        holderIdentity: identity,
        leaseDurationSeconds: leaseDurationS,
        acquireTime: microTime(now),
        renewTime: microTime(now),
        leaseTransitions: 0,
      },
    };
  }
}

function expired(lease: Lease, now: Date): boolean {
  const renewed = Date.parse(lease.spec.renewTime ?? '');
  const durationMs = (lease.spec.leaseDurationSeconds ?? LEASE_DURATION_S_DEFAULT) * 1000;
  return Number.isNaN(renewed) || renewed + durationMs < now.getTime();
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
