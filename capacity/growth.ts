import {
  HOST_AGENTS,
  METRICS_RELAY_SERVICE,
  SERVICE_FIELD_DEFAULTS,
  SYSTEM_RESERVE_MB_DEFAULT,
} from "./defaults.js";
import { hostPlan } from "./host-plan.js";
import { placementAt } from "./host-usage.js";
import { hostsCarry, hostsMaxUsers } from "./limits.js";
import { APP_ROLE, hostAdmits, ROLE_SERVICES } from "./placement.js";
import { sizePrometheusRetention } from "./prometheus-retention.js";
import type { HostInput, Offer, PlanInput, ServiceInput } from "./schema.js";
import { Sizing } from "./sizing.js";
import type { GrowOut, Growth, GrowUp, Plan } from "./types.js";
import { adviseUpgrades, overWarn } from "./upgrades.js";

/** Whether every host sits under all its warn marks at `users` and every replica found room. */
function hostsFit(input: PlanInput, users: number): boolean {
  const sizing = new Sizing(input, users);
  const hosts = input.hosts.map((h) => hostPlan(input, h, sizing));
  return !hosts.some(overWarn) && placementAt(sizing).overflow.length === 0;
}

/** The first `app-<n>` (n from 1) that no host has. */
function newHostName(input: PlanInput): string {
  for (let n = 1; ; n++) {
    const name = `${APP_ROLE}-${n}`;
    if (!input.hosts.some((h) => h.name === name)) return name;
  }
}

/**
 * The input with one more host of `offer` whose role is `app`: the bot's and the workers' replicas lose their
 * fixed host and are placed over the hosts that ran them and the new one; the new host gets its own per-host
 * agents, copied from the first host that runs the app.
 */
export function withAppHost(input: PlanInput, offer: Offer, name = newHostName(input)): PlanInput {
  const appServices = ROLE_SERVICES[APP_ROLE] ?? [];
  const isApp = (s: ServiceInput) => appServices.includes(s.name);
  const pinnedAppHosts = new Set(
    input.services.filter((s) => isApp(s) && s.host !== undefined).map((s) => s.host),
  );
  const hosts: HostInput[] = input.hosts.map((h) =>
    pinnedAppHosts.has(h.name) && !appServices.every((s) => hostAdmits(h, s))
      ? { ...h, roles: [...(h.roles ?? []), APP_ROLE] }
      : h,
  );
  hosts.push({
    name,
    roles: [APP_ROLE],
    ramMB: offer.ramMB,
    cpus: offer.cpus,
    diskGB: offer.diskGB,
    priceRubPerMonth: offer.priceRubPerMonth,
    systemReserveMB: SYSTEM_RESERVE_MB_DEFAULT,
  });
  const model = hosts.find((h) => pinnedAppHosts.has(h.name) || hostAdmits(h, appServices[0] ?? ""));
  const agents = input.services.flatMap((s) =>
    model !== undefined && s.host === model.name && HOST_AGENTS.some((a) => s.name === `${a}-${model.name}`)
      ? [{ ...s, name: `${s.name.slice(0, -model.name.length)}${name}`, host: name }]
      : [],
  );
  // Past two hosts the app runs on a Swarm whose tasks Prometheus reaches only through the metrics relay,
  // beside Caddy (infra requires it there): the grown plan pays for it.
  const relayHost = input.services.find((s) => s.name === "caddy")?.host;
  const relay =
    hosts.length > 2 &&
    relayHost !== undefined &&
    !input.services.some((s) => s.name === METRICS_RELAY_SERVICE.name)
      ? [{ ...SERVICE_FIELD_DEFAULTS, ...METRICS_RELAY_SERVICE, host: relayHost }]
      : [];
  return {
    ...input,
    hosts,
    services: [...input.services.map((s) => (isApp(s) ? { ...s, host: undefined } : s)), ...agents, ...relay],
  };
}

/** The input with each upgraded host's specs and price replaced by its offer's. */
function withUpgrades(input: PlanInput, upgrades: GrowUp["upgrades"]): PlanInput {
  return {
    ...input,
    hosts: input.hosts.map((h) => {
      const to = input.catalog.find((o) => o.name === upgrades.find((u) => u.host === h.name)?.to);
      return to === undefined
        ? h
        : { ...h, ramMB: to.ramMB, cpus: to.cpus, diskGB: to.diskGB, priceRubPerMonth: to.priceRubPerMonth };
    }),
  };
}

const costOf = (input: PlanInput) => input.hosts.reduce((sum, h) => sum + h.priceRubPerMonth, 0);

/** Growing up at `users`: the cheapest offer for each host over a warn mark; null when one fits none. */
function growUp(input: PlanInput, users: number): GrowUp | null {
  const sizing = new Sizing(input, users);
  const hosts = input.hosts.map((h) => hostPlan(input, h, sizing));
  const { upgrades, noFit } = adviseUpgrades(input, hosts);
  if (noFit.length > 0 || upgrades.length === 0) return null;
  const grown = withUpgrades(input, upgrades);
  return {
    upgrades,
    addedRubPerMonth: costOf(grown) - costOf(input),
    costRubPerMonth: costOf(grown),
    carriesUsers: hostsMaxUsers(grown),
  };
}

/** Growing out at `users`: the cheapest offer whose one more app host brings every host under warn; null: none. */
export function growOut(input: PlanInput, users: number): { step: GrowOut; input: PlanInput } | null {
  const offers = [...input.catalog].sort(
    (x, y) => x.priceRubPerMonth - y.priceRubPerMonth || y.ramMB - x.ramMB,
  );
  for (const offer of offers) {
    const grown = withAppHost(input, offer);
    if (!hostsFit(grown, users)) continue;
    const host = grown.hosts.at(-1)?.name ?? "";
    return {
      step: {
        host,
        offer: offer.name,
        addedRubPerMonth: offer.priceRubPerMonth,
        costRubPerMonth: costOf(grown),
        carriesUsers: hostsMaxUsers(grown),
      },
      input: grown,
    };
  }
  return null;
}

/**
 * The next step once the hosts no longer carry the users under their warn marks: at the plan's users if they
 * already do not, else one user past the most the hosts carry (from the plan's own limits). Both ways are
 * priced there: growing up (each host over a mark moved to the cheapest catalog offer that carries it) and
 * growing out (one more host of the cheapest offer with which every host is under its marks, the bot and
 * worker replicas re-placed); each says how many users it then carries, so the step after it can be read too.
 * Apart from plan() because it re-plans the hosts grown both ways (about three times a plan's cost), which
 * the program and the curve's points do not need; `capacity plan` prints it beside the plan.
 */
export function adviseGrowth(given: PlanInput, planned: Plan): Growth {
  const input = sizePrometheusRetention(given).input;
  const hostsCarryUsers = hostsCarry(planned.limits);
  if (hostsCarryUsers === null)
    return { hostsCarryUsers, neededAtUsers: null, up: null, out: null, cheaper: null };
  const neededAtUsers = hostsCarryUsers + 1;
  const at = Math.max(input.users, neededAtUsers);
  const up = growUp(input, at);
  const out = growOut(input, at)?.step ?? null;
  return { hostsCarryUsers, neededAtUsers, up, out, cheaper: cheaper(up, out) };
}

/** The way that adds less to the monthly bill; on a tie the one that carries more users, else up. */
function cheaper(up: GrowUp | null, out: GrowOut | null): Growth["cheaper"] {
  if (up === null || out === null) return up !== null ? "up" : out !== null ? "out" : null;
  if (up.addedRubPerMonth !== out.addedRubPerMonth)
    return up.addedRubPerMonth < out.addedRubPerMonth ? "up" : "out";
  return (out.carriesUsers ?? Number.POSITIVE_INFINITY) > (up.carriesUsers ?? Number.POSITIVE_INFINITY)
    ? "out"
    : "up";
}

/** One host the curve adds: where, of which offer, and the bill after it. */
export interface HostAdded {
  /** The first user count today's hosts (and those added before) no longer carry under their warn marks. */
  atUsers: number;
  host: string;
  offer: string;
  addedRubPerMonth: number;
  costRubPerMonth: number;
}

/** The steps growing out takes up to a user count, and where it stops working, if it does. */
export interface GrowOutPath {
  hostsAdded: HostAdded[];
  /** The user count at which one more host of no catalog offer brings every host under its marks; null: never up to `to`. */
  stuckAtUsers: number | null;
}

/** Steps the path takes at most; each adds a host, so far more than any catalog's hosts carry. */
const MAX_STEPS = 64;

/**
 * Growing out again and again up to `toUsers`: each time the hosts stop carrying the users under their warn
 * marks, one more app host of the cheapest offer that brings them back under (growOut).
 */
export function growOutPath(input: PlanInput, toUsers: number): GrowOutPath {
  const hostsAdded: HostAdded[] = [];
  let current = input;
  let carry = hostsMaxUsers(current);
  for (let step = 0; step < MAX_STEPS && carry !== null && carry < toUsers; step++) {
    const atUsers = carry + 1;
    const next = growOut(current, atUsers);
    if (next === null || (next.step.carriesUsers !== null && next.step.carriesUsers <= carry)) {
      return { hostsAdded, stuckAtUsers: atUsers };
    }
    const { host, offer, addedRubPerMonth, costRubPerMonth } = next.step;
    hostsAdded.push({ atUsers, host, offer, addedRubPerMonth, costRubPerMonth });
    current = next.input;
    carry = next.step.carriesUsers;
  }
  return { hostsAdded, stuckAtUsers: null };
}
