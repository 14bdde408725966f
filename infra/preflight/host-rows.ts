import type { Plan, PlanInput } from "../../capacity/index.js";
import type { PlainConfig } from "../config.js";
import type { HostRole } from "../host-scripts.js";
import { hostPlan } from "../plan-services.js";
import { deployPorts } from "./deploy-ports.js";
import { diskRow } from "./disk.js";
import { dockerDaemonRow } from "./docker-daemon.js";
import type { HostFacts, ProbeName } from "./host-probes.js";
import { parseDockerPorts, portRows } from "./listeners.js";
import { memoryRow } from "./memory.js";
import { osRow } from "./os-release.js";
import { ownerAddressRow } from "./owner-address.js";
import { queueRedisRow } from "./queue-redis.js";
import { type PreflightRow, row } from "./row.js";
import { programUfwRules, ufwRow } from "./ufw-rules.js";

/** What a check needs to judge a host: the stack's settings, the plan and the plan's input. */
export interface HostContext {
  config: PlainConfig;
  plan: Plan;
  input: PlanInput;
}

/**
 * Every row of one host from what its probes printed: the owner's address against the allowlist, OS, RAM and disk against the plan, ports, UFW,
 * daemon.json and, on the automation host, the queue Redis's persistence. A probe that failed gives a warn row saying which command and why, instead of a guess; one
 * that failed because the SSH user has no passwordless sudo blocks, since every host script needs it.
 */
export function hostRows(role: HostRole, facts: HostFacts, context: HostContext): PreflightRow[] {
  const { config, plan, input } = context;
  const host = hostPlan(plan, role);
  const hostInput = input.hosts.find((h) => h.name === role);
  const rows: PreflightRow[] = [];
  const judged = (
    check: string,
    name: ProbeName,
    judge: (output: string) => PreflightRow | PreflightRow[],
  ) => {
    const fact = facts[name];
    if (fact.ok) rows.push(...[judge(fact.output)].flat());
    else if (fact.sudo) {
      rows.push(
        row(
          check,
          role,
          "block",
          `could not read: ${fact.error}`,
          `give ${config.sshUser} passwordless sudo (the deploy runs every host script with sudo -n), or use root`,
        ),
      );
    } else {
      rows.push(
        row(
          check,
          role,
          "warn",
          `could not read: ${fact.error}`,
          "run it by hand as root and read it yourself",
        ),
      );
    }
  };
  judged("your address", "sshClient", (out) => ownerAddressRow(role, out, config.adminAllowIps));
  judged("os", "osRelease", (out) => osRow(role, out));
  judged("ram", "meminfo", (out) => memoryRow(role, out, host, hostInput?.systemReserveMB ?? 0, plan.users));
  judged("disk", "disk", (out) => diskRow(role, out, host, input.systemDiskGB, input.thresholds.disk.warn));
  const docker = facts.docker.ok ? parseDockerPorts(facts.docker.output) : new Map<string, string>();
  judged("ports", "listeners", (out) => portRows(role, out, deployPorts(config, plan, role), docker));
  judged("ufw", "ufw", (out) =>
    ufwRow(role, out, programUfwRules(config, role), config.removeForeignUfwRules),
  );
  judged("daemon.json", "daemonJson", (out) => dockerDaemonRow(role, out, config));
  if (role === "automation") judged("queue redis", "queueRedis", (out) => queueRedisRow(out, plan.redis));
  return rows;
}
