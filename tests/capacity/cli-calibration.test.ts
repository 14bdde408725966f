import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { limitOf, root, runCapacity } from "./support.js";

const work = mkdtempSync(join(tmpdir(), "capacity-calibration-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The committed measurement: the figures the CLI must use come from here, not from this test. */
const committed = join(root, "capacity/calibration.json");
const file = JSON.parse(readFileSync(committed, "utf8"));

/** Runs `npm run capacity -- …` as a person would, in a scratch directory. */
const capacity = (...args: string[]) => runCapacity(work, ...args);
const botLimit = (plan: Parameters<typeof limitOf>[0]) => limitOf(plan, "bot");

describe("capacity --calibration", () => {
  it("plan --json: the bot's limit at 300 users follows the measured line by default, 5550 MB only with --profile legacy", async () => {
    const [before, after, byDefault] = await Promise.all([
      capacity("plan", "--users", "300", "--json", "--profile", "legacy"),
      capacity("plan", "--users", "300", "--json", "--calibration", committed),
      capacity("plan", "--users", "300", "--json"),
    ]);
    expect([before.code, after.code, byDefault.code]).toEqual([0, 0, 0]);
    expect(JSON.parse(byDefault.stdout)).toEqual(JSON.parse(after.stdout));
    const bot = file.services.bot;
    expect(botLimit(JSON.parse(before.stdout))).toBe(5550);
    expect(botLimit(JSON.parse(after.stdout))).toBe(Math.ceil(bot.baseMB + bot.perUserMB * 300));
    expect(JSON.parse(after.stdout).calibration).toEqual({ source: file.source });
    expect(JSON.parse(before.stdout).calibration).toBeNull();
  });

  it("the report says where the budgets came from, or that the bot's per-user figure is unmeasured", async () => {
    const [text, md, plain] = await Promise.all([
      capacity("plan", "--users", "300", "--calibration", committed),
      capacity("plan", "--users", "300", "--format", "md", "--calibration", committed),
      capacity("plan", "--users", "300", "--profile", "legacy"),
    ]);
    expect(text.stdout).toContain(`Budgets calibrated from ${file.source}`);
    expect(md.stdout).toContain(`Budgets calibrated from **${file.source}**`);
    expect(plain.stdout).toContain(
      "Not calibrated (the legacy profile, or a file's own services): the bot's 18 MB per user is the old Python bot's figure",
    );
    expect(text.stdout).not.toContain("Not calibrated");
  });

  it("check and curve take it too", async () => {
    const [check, curve] = await Promise.all([
      capacity("check", "--users", "300", "--calibration", committed),
      capacity(
        "curve",
        ...["--from", "100", "--to", "300", "--step", "100", "--out", join(work, "c.svg")],
        ...["--calibration", committed],
      ),
    ]);
    expect(check.stdout).toContain(`Budgets calibrated from ${file.source}`);
    expect(curve.code).toBe(0);
    expect(curve.stdout).toContain(`Budgets calibrated from ${file.source}`);
  });

  it("calibration: in a config file is relative to that file; --calibration replaces it", async () => {
    const dir = join(work, "stack");
    mkdirSync(join(dir, "bench"), { recursive: true });
    const small = { source: "file beside the config", services: { bot: { baseMB: 160, perUserMB: 0.1 } } };
    writeFileSync(join(dir, "bench/cal.json"), JSON.stringify(small));
    writeFileSync(join(dir, "sizing.yaml"), "users: 300\ncalibration: bench/cal.json\n");
    const [fromFile, replaced] = await Promise.all([
      capacity("plan", "--config", join(dir, "sizing.yaml"), "--json"),
      capacity("plan", "--config", join(dir, "sizing.yaml"), "--json", "--calibration", committed),
    ]);
    expect(botLimit(JSON.parse(fromFile.stdout))).toBe(160 + 30);
    expect(JSON.parse(replaced.stdout).calibration).toEqual({ source: file.source });
  });

  it("calibration: in a stack's tapbot:capacity is relative to the stack file", async () => {
    const dir = join(work, "infra");
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, "Pulumi.calibrated.yaml"),
      `config:\n  tapbot:capacity:\n    users: 300\n    calibration: ${join("..", "measured.json")}\n`,
    );
    writeFileSync(join(work, "measured.json"), readFileSync(committed));
    const run = await capacity("plan", "--stack", "calibrated", "--stack-dir", dir, "--json");
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).calibration).toEqual({ source: file.source });
    expect(botLimit(JSON.parse(run.stdout))).toBe(
      Math.ceil(file.services.bot.baseMB + file.services.bot.perUserMB * 300),
    );
  });

  it("a bad calibration file exits 2 naming the file, the field and what is allowed", async () => {
    const bad = join(work, "bad.json");
    writeFileSync(bad, JSON.stringify({ source: "x", services: { bto: { perUserMB: -1 } } }));
    const typo = join(work, "typo.json");
    writeFileSync(typo, JSON.stringify({ source: "x", services: { bto: { perUserMB: 1 } } }));
    const [invalid, unknown, missing] = await Promise.all([
      capacity("plan", "--users", "300", "--calibration", bad),
      capacity("plan", "--users", "300", "--calibration", typo),
      capacity("plan", "--users", "300", "--calibration", join(work, "nope.json")),
    ]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain(`capacity: invalid calibration file ${bad}`);
    expect(invalid.stderr).toContain("calibration.services.bto.perUserMB: got -1; expected a number ≥ 0");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(
      'calibration.services.bto: no service named "bto" in the services list; expected one of redis, n8n, caddy, bot, worker, postgres, directus, qdrant',
    );
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`cannot read calibration file ${join(work, "nope.json")}: no such file`);
    for (const run of [invalid, unknown, missing]) expect(run.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
  });

  it("reads only a regular file as a calibration, never echoes a file that is not one, and stops on /dev/zero", async () => {
    // Shaped like /etc/shadow, with a line that must not reach the terminal.
    const shadow = join(work, "shadow");
    writeFileSync(shadow, "root:$6$SECRETSALT$SECRETHASH:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n");
    const passwdLike = join(work, "passwd.yaml");
    writeFileSync(passwdLike, "root: x:0:0:root:/root:/bin/bash\nsecret-user: hunter2\n");
    const big = join(work, "big.json");
    writeFileSync(big, `{"source": "x", "pad": "${"y".repeat(1024 * 1024)}"}`);
    const [notCalibration, mapping, zero, tooBig, directory] = await Promise.all([
      capacity("plan", "--users", "300", "--calibration", shadow),
      capacity("plan", "--users", "300", "--calibration", passwdLike),
      capacity("plan", "--users", "300", "--calibration", "/dev/zero"),
      capacity("plan", "--users", "300", "--calibration", big),
      capacity("plan", "--users", "300", "--calibration", work),
    ]);
    expect(notCalibration.code).toBe(2);
    expect(notCalibration.stderr).toContain(`capacity: invalid calibration file ${shadow}`);
    expect(notCalibration.stderr).toContain("not a calibration file");
    expect(mapping.code).toBe(2);
    expect(mapping.stderr).toContain("not a calibration file");
    for (const run of [notCalibration, mapping]) {
      expect(run.stderr).not.toMatch(/SECRET|daemon|hunter2|secret-user|bin\/bash/);
      expect(run.stdout).toBe("");
    }
    expect(zero.code).toBe(2);
    expect(zero.stderr).toContain("cannot read calibration file /dev/zero: not a regular file");
    expect(tooBig.code).toBe(2);
    expect(tooBig.stderr).toContain(
      `cannot read calibration file ${big}: ${statSync(big).size} bytes, more than the 1048576 bytes`,
    );
    expect(directory.code).toBe(2);
    expect(directory.stderr).toContain(`cannot read calibration file ${work}: it is a directory`);
  });

  it("reads a calibration file of nothing but unknown keys, as many as 1 MB holds, in seconds, printing 20", async () => {
    const many = join(work, "many-keys.yaml");
    const keys = Array.from({ length: 140_000 }, (_, i) => `k${i.toString(36)}:`).join("\n");
    writeFileSync(many, `source: x\n${keys}\n`);
    expect(statSync(many).size).toBeLessThanOrEqual(1024 * 1024);
    const started = performance.now();
    const run = await capacity("plan", "--users", "300", "--calibration", many);
    const seconds = (performance.now() - started) / 1000;
    expect(run.code).toBe(2);
    expect(run.stderr.split("\n").filter((l) => l.includes("unknown key"))).toHaveLength(20);
    expect(run.stderr).toContain("and 139980 more problems");
    // A generous bound for a shared two-core machine; the quadratic check took minutes.
    expect(seconds).toBeLessThan(40);
  }, 60_000);
});
