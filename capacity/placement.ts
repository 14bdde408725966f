/**
 * Which host runs how many replicas of each service: pinned services where their input says (Redis and
 * PostgreSQL stay where their data lives), the others packed by memory onto the hosts whose roles admit them.
 */

/** The role of a host that runs the app's own processes, the bot's and the workers' replicas. */
export const APP_ROLE = "app";

/** What each role admits besides the service names a host's roles may list one by one. */
export const ROLE_SERVICES: Readonly<Record<string, readonly string[]>> = { [APP_ROLE]: ["bot", "worker"] };

/** A host as the packing sees it. */
export interface PlacementHost {
  name: string;
  ramMB: number;
  systemReserveMB: number;
  /** What the host may run besides the services pinned to it; unset or empty: only those. */
  roles?: readonly string[] | undefined;
}

/** One service's replicas to place: all on `host` when it is set, else wherever the packing puts them. */
export interface ReplicaDemand {
  name: string;
  host?: string | undefined;
  replicas: number;
  /** Docker's memory limit of one replica, what the packing counts against a host's RAM. */
  limitMB: number;
}

/** Replicas of a service that no admitting host had room for under the RAM warn mark. */
export interface Overflow {
  service: string;
  /** How many of its replicas did not fit, and the memory limit of each. */
  replicas: number;
  limitMB: number;
  /** The hosts that admit it and the MB each had free under its warn mark before the first overflowing replica. */
  hosts: { name: string; freeMB: number }[];
}

/** Where the replicas went: per host (in the input's order) its replicas by service, and what fitted nowhere. */
export interface Placement {
  hosts: { name: string; replicas: Map<string, number> }[];
  overflow: Overflow[];
}

/** Whether a host's roles admit a service that is not pinned: by its name, or by a role that lists it. */
export function hostAdmits(host: Pick<PlacementHost, "roles">, service: string): boolean {
  return (host.roles ?? []).some((role) => role === service || ROLE_SERVICES[role]?.includes(service));
}

/**
 * Memory-first bin packing. Pinned replicas go to their host first. The others go largest replica first
 * (ties: by name, so the result never depends on the input's order), one at a time, onto an admitting host
 * where the replica keeps the host under `warnFraction` of its RAM: the one with the fewest replicas of that
 * service so far (replicas of one service spread over hosts: never two on one host while another admitting
 * host has room), then the most RAM free under the warn mark, then the earlier host in the input. A replica that
 * fits nowhere still goes to an admitting host by the same order (the plan then shows that host over its mark)
 * and is reported in `overflow`. Deterministic and pure.
 */
export function placeReplicas(
  hosts: readonly PlacementHost[],
  demands: readonly ReplicaDemand[],
  warnFraction: number,
): Placement {
  const used = hosts.map((h) => h.systemReserveMB);
  const replicas = hosts.map(() => new Map<string, number>());
  const add = (i: number, service: string, count: number, limitMB: number) => {
    replicas[i]?.set(service, (replicas[i]?.get(service) ?? 0) + count);
    used[i] = (used[i] ?? 0) + count * limitMB;
  };
  const freeMB = (i: number) => warnFraction * (hosts[i]?.ramMB ?? 0) - (used[i] ?? 0);
  for (const d of demands) {
    const i = hosts.findIndex((h) => h.name === d.host);
    if (d.host !== undefined && i >= 0 && d.replicas > 0) add(i, d.name, d.replicas, d.limitMB);
  }
  const overflow: Overflow[] = [];
  const placed = demands
    .filter((d) => d.host === undefined)
    .sort((a, b) => b.limitMB - a.limitMB || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const d of placed) {
    const admitting = hosts.flatMap((h, i) => (hostAdmits(h, d.name) ? [i] : []));
    const better = (x: number, y: number) => {
      const cx = replicas[x]?.get(d.name) ?? 0;
      const cy = replicas[y]?.get(d.name) ?? 0;
      if (cx !== cy) return cx < cy;
      const fx = freeMB(x);
      const fy = freeMB(y);
      return fx !== fy ? fx > fy : x < y;
    };
    const pick = (candidates: number[]) =>
      candidates.reduce<number | undefined>(
        (best, i) => (best === undefined || better(i, best) ? i : best),
        undefined,
      );
    let missed: Overflow | undefined;
    for (let r = 0; r < d.replicas; r++) {
      const fitting = admitting.filter((i) => freeMB(i) > d.limitMB);
      const target = pick(fitting) ?? pick(admitting);
      if (target === undefined) break; // the schema ensures every placed service has an admitting host
      if (fitting.length === 0) {
        missed ??= {
          service: d.name,
          replicas: 0,
          limitMB: d.limitMB,
          hosts: admitting.map((i) => ({ name: hosts[i]?.name ?? "", freeMB: Math.floor(freeMB(i)) })),
        };
        missed.replicas++;
      }
      add(target, d.name, 1, d.limitMB);
    }
    if (missed !== undefined) overflow.push(missed);
  }
  return { hosts: hosts.map((h, i) => ({ name: h.name, replicas: replicas[i] ?? new Map() })), overflow };
}
