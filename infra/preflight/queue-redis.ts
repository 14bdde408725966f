import type { RedisSettings } from "../../capacity/index.js";
import { renderRedisArgs } from "../render/redis-args.js";
import { type PreflightRow, row } from "./row.js";

/** The container the program runs the queue's Redis in (infra/components/automation-services.ts). */
export const QUEUE_REDIS_CONTAINER = "tapbot-redis";

/** What the probe prints when no queue Redis container runs on the host (a first deploy). */
export const QUEUE_REDIS_ABSENT = "queue redis: no running container";

/**
 * The probe: `CONFIG GET appendonly` and `CONFIG GET save` inside the running queue Redis, if there is one.
 * `docker exec` inherits the container's environment, so redis-cli authenticates with its REDISCLI_AUTH and
 * the password appears in no command line.
 */
export const QUEUE_REDIS_PROBE =
  `if command -v docker >/dev/null && [ "$(docker inspect -f '{{.State.Running}}' ${QUEUE_REDIS_CONTAINER} 2>/dev/null)" = true ]; ` +
  `then docker exec ${QUEUE_REDIS_CONTAINER} redis-cli --no-auth-warning CONFIG GET appendonly; ` +
  `docker exec ${QUEUE_REDIS_CONTAINER} redis-cli --no-auth-warning CONFIG GET save; ` +
  `else echo '${QUEUE_REDIS_ABSENT}'; fi`;

/** `CONFIG GET name` answers as name/value line pairs (redis-cli without a tty); the value of `name`. */
function configValue(output: string, name: string): string | undefined {
  const lines = output.split("\n");
  const at = lines.findIndex((line) => line.trim() === name);
  return at < 0 ? undefined : (lines[at + 1]?.trim() ?? "");
}

/**
 * The `queue redis` row: the queue's Redis must persist, or a restart loses every accepted request still
 * queued. The program renders it with AOF every second (renderRedisArgs, the plan's settings); what can be
 * wrong is the Redis running now. One that keeps nothing on disk blocks: the deploy restarts it, and every
 * job queued in it at that moment would be lost (one `CONFIG SET appendonly yes` first keeps them). RDB
 * snapshots alone warn (the jobs since the last snapshot); an unreadable answer warns.
 */
export function queueRedisRow(probeOutput: string, settings: RedisSettings): PreflightRow {
  const rendered = renderRedisArgs(settings);
  const planned = `the deploy runs ${QUEUE_REDIS_CONTAINER} with appendonly ${rendered[rendered.indexOf("--appendonly") + 1]}, appendfsync ${settings.appendfsync}`;
  const check = "queue redis";
  if (probeOutput.includes(QUEUE_REDIS_ABSENT))
    return row(check, "automation", "ok", `${planned}; none runs yet`);
  const appendonly = configValue(probeOutput, "appendonly");
  const save = configValue(probeOutput, "save");
  if (appendonly === undefined) {
    return row(
      check,
      "automation",
      "warn",
      `${QUEUE_REDIS_CONTAINER} runs, but CONFIG GET appendonly answered: ${probeOutput.trim().split("\n")[0] ?? ""}`,
      `run \`docker exec ${QUEUE_REDIS_CONTAINER} redis-cli CONFIG GET appendonly\` and read it yourself`,
    );
  }
  if (appendonly === "yes") {
    return row(check, "automation", "ok", `${QUEUE_REDIS_CONTAINER} runs with appendonly yes; ${planned}`);
  }
  const rdb = save !== undefined && save !== "";
  return row(
    check,
    "automation",
    rdb ? "warn" : "block",
    `${QUEUE_REDIS_CONTAINER} runs with appendonly no and ${rdb ? `RDB saves only (save "${save}"): a restart loses the jobs since the last snapshot` : "no RDB saves: a restart loses every queued job"}; ${planned}, which restarts it`,
    `turn AOF on before the deploy, so the restart keeps the queue: docker exec ${QUEUE_REDIS_CONTAINER} redis-cli CONFIG SET appendonly yes`,
  );
}
