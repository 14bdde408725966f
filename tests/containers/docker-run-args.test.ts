import { beforeAll, describe, expect, it } from "vitest";
import type { Plan } from "../../capacity/index.js";
import { stackPlan } from "../infra/helpers/stack-config.js";
import { type DockerCreate, dockerCreateArgs } from "./support/docker-run-args.js";
import { type DeclaredContainer, programDeclaration } from "./support/program-containers.js";

/** The value after each occurrence of `flag` in `args`. */
function values(args: string[], flag: string): string[] {
  return args.flatMap((arg, i) => (arg === flag ? [args[i + 1] as string] : []));
}

const planned = (plan: Plan, name: string) => {
  const service = plan.hosts.flatMap((h) => h.services).find((s) => s.name === name);
  if (service === undefined) throw new Error(`plan has no ${name}`);
  return service;
};

/**
 * The pure translation from the program's container inputs to `docker create` arguments (no engine): what
 * program-containers.test.ts starts is only as faithful as this.
 */
describe("docker create arguments from the program's containers", () => {
  let declared: DeclaredContainer[];
  let plan: Plan;
  const translate = (name: string, images?: Record<string, string>): DockerCreate => {
    const found = declared.find((c) => c.inputs.name === name);
    if (found === undefined) throw new Error(`the program declares no ${name}`);
    return dockerCreateArgs(found.inputs, { uploadDir: "/up", images });
  };

  beforeAll(async () => {
    declared = (await programDeclaration()).containers;
    plan = stackPlan(300);
  }, 60_000);

  it("gives each container the plan's memory limit, swap and reservation in MB", () => {
    for (const [container, service] of [
      ["tapbot-bot-1", "bot"],
      ["tapbot-worker-1", "worker"],
      ["tapbot-redis", "redis"],
    ] as const) {
      const { args } = translate(container);
      const { limitMB, reservationMB } = planned(plan, service);
      expect(values(args, "--memory"), container).toEqual([`${limitMB}m`]);
      expect(values(args, "--memory-swap"), container).toEqual([`${limitMB}m`]);
      expect(values(args, "--memory-reservation"), container).toEqual([`${reservationMB}m`]);
    }
  });

  it("publishes the bot's port on the tunnel address only, and keeps its network, restart, stop grace and command", () => {
    const { args, connect } = translate("tapbot-bot-1", { "tapbot-app:local": "x" });
    expect(values(args, "--publish")).toEqual(["10.77.0.1:9391:8080/tcp"]);
    expect(values(args, "--network")).toEqual(["tapbot"]);
    expect(connect).toEqual([]);
    expect(values(args, "--restart")).toEqual(["unless-stopped"]);
    expect(values(args, "--stop-signal")).toEqual(["SIGTERM"]);
    expect(values(args, "--stop-timeout")).toEqual(["30"]);
    expect(args.slice(-3)).toEqual([expect.stringMatching(/^tapbot-app:/), "node", "dist/app/bot/main.js"]);
  });

  it("turns the bot's exec-form healthcheck into the same argv for the shell, with the declared timings", () => {
    const { args } = translate("tapbot-bot-1");
    expect(values(args, "--health-cmd")).toEqual([
      `node -e 'fetch("http://127.0.0.1:8080/healthz").then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))'`,
    ]);
    expect(values(args, "--health-interval")).toEqual(["15s"]);
    expect(values(args, "--health-retries")).toEqual(["5"]);
  });

  it("writes secret uploads as host files owned by the reader, 0400, bind-mounted read-only at the declared path", () => {
    const { args, files } = translate("tapbot-bot-1");
    const token = files.find((f) => f.file === "/run/secrets/telegram_bot_token");
    expect(token).toMatchObject({
      hostPath: "/up/tapbot-bot-1/run/secrets/telegram_bot_token",
      uid: 1000,
      gid: 1000,
      mode: 0o400,
    });
    expect(token?.content).toContain("telegramBotToken-SECRET");
    expect(values(args, "--volume")).toContain(
      "/up/tapbot-bot-1/run/secrets/telegram_bot_token:/run/secrets/telegram_bot_token:ro",
    );
    // The value itself is never on the command line.
    for (const file of files) expect(args.join(" ")).not.toContain(file.content);
  });

  it("maps a declared image to its local stand-in, joins extra networks after create, and names a volume by name", () => {
    const redis = declared.find((c) => c.inputs.name === "tapbot-redis");
    const { args } = dockerCreateArgs(redis?.inputs as never, {
      uploadDir: "/up",
      images: { [redis?.inputs.image as string]: "redis-stand-in:lane" },
    });
    expect(args).toContain("redis-stand-in:lane");
    expect(values(args, "--volume")).toContain("tapbot-redis:/data");
    expect(values(args, "--network-alias")).toEqual(["redis"]);
    const caddy = translate("tapbot-caddy");
    expect(caddy.connect.map((c) => c.network).length).toBeGreaterThan(0);
  });

  it("refuses an input it has no translation for, naming it", () => {
    expect(() =>
      dockerCreateArgs({ name: "x", image: "i", capabilities: { adds: ["NET_ADMIN"] } } as never, {
        uploadDir: "/up",
      }),
    ).toThrow(/x: container inputs capabilities have no docker-create translation/);
  });
});
