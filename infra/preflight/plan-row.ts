import type { Plan } from "../../capacity/index.js";
import { CONFIG_NAMESPACE } from "../config.js";
import { checkDeployable, UndeployablePlanError } from "../plan-services.js";
import { type PreflightRow, row } from "./row.js";

/**
 * The plan row: what the stack's capacity plan deploys, and whether `pulumi up` will accept it. The program
 * stops on a plan it cannot deploy, and on a plan whose own check finds errors unless
 * `tapbot:allowCapacityErrors` is set; preflight says so first, with the same findings.
 */
export function planRow(plan: Plan, allowCapacityErrors: boolean): PreflightRow {
  try {
    checkDeployable(plan);
  } catch (error) {
    if (!(error instanceof UndeployablePlanError)) throw error;
    return row(
      "plan",
      "capacity",
      "block",
      error.message.replace(/\n\s*/g, " "),
      `fix ${CONFIG_NAMESPACE}:capacity`,
    );
  }
  const hosts = plan.hosts.map((h) => `${h.name} ${Math.round(h.utilization * 100)} % RAM`).join(", ");
  const found = `${plan.users} users: ${plan.workers} workers × ${plan.workerConcurrency}, ${hosts}`;
  const errors = plan.findings.filter((f) => f.severity === "error");
  if (errors.length === 0) return row("plan", "capacity", "ok", found);
  const listed = errors.map((f) => `${f.code}: ${f.message}`).join("; ");
  if (allowCapacityErrors) {
    return row(
      "plan",
      "capacity",
      "warn",
      `${found}; deployed despite ${listed} (${CONFIG_NAMESPACE}:allowCapacityErrors)`,
      "npm run capacity -- check --stack <stack> explains each",
    );
  }
  return row(
    "plan",
    "capacity",
    "block",
    `${found}; pulumi up stops on ${listed}`,
    `change ${CONFIG_NAMESPACE}:capacity (npm run capacity -- check --stack <stack>), or set ${CONFIG_NAMESPACE}:allowCapacityErrors true`,
  );
}
