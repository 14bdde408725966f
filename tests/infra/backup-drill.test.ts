import { createHash, randomBytes } from "node:crypto";
import { chmod, mkdir, readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { runMigrations } from "../../app/storage/migrate.js";
import { alertRulesInput } from "../../infra/monitoring-plan.js";
import { renderAlertRules } from "../../infra/render/alert-rules.js";
import { renderBackupEnv } from "../../infra/render/backup-env.js";
import { type BackupScriptOptions, renderBackupScript } from "../../infra/render/backup-script.js";
import { renderPgDumpScript } from "../../infra/render/pg-backup.js";
import { type FakeS3, startFakeS3 } from "../support/fake-s3.js";
import { findBinary, postgresBinDirs } from "../support/find-binary.js";
import { freePort } from "../support/free-port.js";
import { type PostgresServer, startPostgres } from "../support/postgres-server.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { runTool } from "./helpers/run-tool.js";
import { stackPlan } from "./helpers/stack-config.js";

/**
 * The restore drill: the backup scripts the program installs, rendered by the same functions, run against a
 * real PostgreSQL (the app's own migrations and rows), real files shaped like n8n's and Directus's volumes,
 * real restic and a strict S3 server (SigV4 checked); then everything comes back from the bucket alone into
 * a fresh PostgreSQL and fresh directories and is compared. `docker` is a stand-in on PATH for exactly the
 * calls the scripts make (`exec tapbot-postgres pg_dump …`, `volume inspect`, `pause`/`unpause`), since no
 * container runs here.
 */

const BUCKET = "tapbot-backups";
const PASSWORD = "drill-repository-password-0123456789";
/** A prompt no ciphertext may contain: the provider must see nothing of the data. */
const MARKER = `drill-marker-${randomBytes(8).toString("hex")}`;

let s3: FakeS3;
let source: PostgresServer;
let dir: string;
let binDir: string;
let pgRestore: string;

/** What a store's restored copy is compared by. */
interface TableFigures {
  rows: number;
  md5: string;
}

async function tableFigures(url: string): Promise<Record<string, TableFigures>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = await client.query<{ name: string }>(
      "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
    );
    const figures: Record<string, TableFigures> = {};
    for (const { name } of tables.rows) {
      const result = await client.query<{ rows: string; md5: string }>(
        `SELECT count(*) AS rows, md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS md5 FROM "${name}" t`,
      );
      const row = result.rows[0];
      if (row === undefined) throw new Error(`no figures for ${name}`);
      figures[name] = { rows: Number(row.rows), md5: row.md5 };
    }
    return figures;
  } finally {
    await client.end();
  }
}

/** Every regular file under `root`, by relative path, with its sha256 and mode. */
async function tree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  async function walk(at: string): Promise<void> {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) await walk(path);
      else {
        const info = await stat(path);
        const hash = createHash("sha256")
          .update(await readFile(path))
          .digest("hex");
        out[relative(root, path)] = `${hash} ${(info.mode & 0o777).toString(8)}`;
      }
    }
  }
  await walk(root);
  return out;
}

const volumes = () => join(dir, "volumes");
const textfiles = () => join(dir, "textfile");
const envFile = () => join(dir, "backup.env");

function dataScript(retention = { daily: 7, weekly: 4, monthly: 6 }): BackupScriptOptions {
  return {
    host: "tapbot-data",
    stores: [
      { name: "postgres", source: { kind: "pg-dump", dumpScript: join(dir, "tapbot-pg-dump") } },
      { name: "directus", source: { kind: "volume", volume: "tapbot-directus-uploads" } },
    ],
    offsite: { envFile: envFile(), retention },
    textfileDir: textfiles(),
  };
}

const automationScript = (): BackupScriptOptions => ({
  host: "tapbot-automation",
  stores: [
    {
      name: "n8n",
      source: {
        kind: "paused-volume",
        volume: "tapbot-n8n",
        container: "tapbot-n8n",
        stagingDir: join(dir, "staging-n8n"),
      },
    },
  ],
  offsite: { envFile: envFile(), retention: { daily: 7, weekly: 4, monthly: 6 } },
  textfileDir: textfiles(),
});

/** restic's environment as the scripts get it from the env file, plus the test's CA and a private cache. */
function resticEnv(secretAccessKey = s3.secretAccessKey, role = "data"): Record<string, string> {
  return {
    PATH: `${binDir}:${process.env.PATH ?? ""}`,
    HOME: dir,
    XDG_CACHE_HOME: join(dir, "cache"),
    SSL_CERT_FILE: s3.caFile,
    RESTIC_REPOSITORY: `s3:${s3.endpoint}/${BUCKET}/tapbot/${role}`,
    RESTIC_PASSWORD: PASSWORD,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: secretAccessKey,
  };
}

async function writeEnv(
  role: string,
  secretAccessKey = s3.secretAccessKey,
  endpoint = s3.endpoint,
): Promise<void> {
  await writeFile(
    envFile(),
    renderBackupEnv({
      repository: `s3:${endpoint}/${BUCKET}/tapbot/${role}`,
      password: PASSWORD,
      accessKeyId: s3.accessKeyId,
      secretAccessKey,
    }),
    { mode: 0o400 },
  );
}

/** Runs a rendered backup script as the timer would; only PATH, HOME and the test CA differ from a host. */
async function runBackup(
  options: BackupScriptOptions,
  role: string,
  secretAccessKey = s3.secretAccessKey,
  endpoint = s3.endpoint,
) {
  await writeEnv(role, secretAccessKey, endpoint);
  const started = Date.now();
  const result = await runTool("bash", ["-c", renderBackupScript(options)], {
    env: {
      PATH: `${binDir}:${process.env.PATH ?? ""}`,
      HOME: dir,
      XDG_CACHE_HOME: join(dir, "cache"),
      SSL_CERT_FILE: s3.caFile,
      DOCKER_LOG: join(dir, "docker.log"),
      VOLUMES: volumes(),
    },
    timeoutMs: 50_000,
  });
  return { ...result, seconds: (Date.now() - started) / 1000 };
}

function restic(args: string[], env = resticEnv()) {
  return runTool("restic", args, { env, timeoutMs: 30_000 });
}

async function metrics(store: string): Promise<Record<string, number>> {
  const text = await readFile(join(textfiles(), `tapbot_backup_${store}.prom`), "utf8");
  const values: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const match = /^(tapbot_backup_\w+)\{store="([^"]+)"\} (\S+)$/.exec(line);
    if (match?.[2] === store) values[match[1] ?? ""] = Number(match[3]);
  }
  return values;
}

beforeAll(async () => {
  [s3, source, dir] = await Promise.all([
    startFakeS3({ buckets: [BUCKET] }),
    startPostgres(),
    makeTempDir("backup-drill"),
  ]);
  binDir = join(dir, "bin");
  await mkdir(binDir);
  const pgDump = await findBinary("pg_dump", await postgresBinDirs());
  pgRestore = await findBinary("pg_restore", await postgresBinDirs());
  await writeFile(
    join(binDir, "docker"),
    `#!/usr/bin/env bash
# Stand-in for the docker calls of the backup scripts; anything else is a test failure (exit 97).
set -euo pipefail
case "$1 \${2:-}" in
  "exec tapbot-postgres")
    [ "$3" = pg_dump ] || { echo "unexpected docker call: $*" >&2; exit 97; }
    shift 3
    exec ${pgDump} --host=127.0.0.1 --port=${source.port} "$@" ;;
  "volume inspect")
    [ "$3" = --format ] && [ "$4" = '{{ .Mountpoint }}' ] || { echo "unexpected docker call: $*" >&2; exit 97; }
    echo "$VOLUMES/$5" ;;
  "pause "* | "unpause "*)
    echo "$1 $2" >>"$DOCKER_LOG" ;;
  *) echo "unexpected docker call: $*" >&2; exit 97 ;;
esac
`,
  );
  await chmod(join(binDir, "docker"), 0o755);
  // The dump script the data host runs, rendered as the program renders it, with the stack's user (postgres
  // here: the throwaway cluster's superuser).
  await writeFile(
    join(dir, "tapbot-pg-dump"),
    renderPgDumpScript({
      dir: join(dir, "dumps"),
      retentionDays: 7,
      container: "tapbot-postgres",
      database: "tapbot",
      user: "postgres",
    }),
    { mode: 0o755 },
  );

  // The app's schema through its own migrations, then users and generations as the bot writes them.
  await runMigrations(source.url);
  const client = new pg.Client({ connectionString: source.url });
  await client.connect();
  await client.query(`
    INSERT INTO users (telegram_id, username, first_name, language_code, tier)
      SELECT 1000000 + i, 'user' || i, 'Имя ' || i, CASE WHEN i % 3 = 0 THEN 'ru' ELSE 'kk' END,
             CASE WHEN i % 10 = 0 THEN 'vip' ELSE 'free' END
      FROM generate_series(1, 2000) AS i;
    INSERT INTO generations (id, user_id, chat_id, kind, model, prompt, params, cache_key, status, attempts)
      SELECT md5('g' || i)::uuid, 1 + i % 2000, 1000000 + i % 2000, 'text-to-image', 'fal-ai/flux/schnell',
             '${MARKER} ' || i, jsonb_build_object('seed', i, 'size', 'square'), md5('c' || i),
             (ARRAY['queued','running','delivered','failed'])[1 + i % 4], i % 3
      FROM generate_series(1, 8000) AS i;
  `);
  await client.end();

  // Volumes shaped like n8n's (database, WAL, config with the encryption key, nested dirs) and Directus's
  // uploads (binary files, one of them bigger than restic's chunk minimum).
  const n8n = join(volumes(), "tapbot-n8n");
  await mkdir(join(n8n, "nodes", "node_modules"), { recursive: true });
  await writeFile(join(n8n, "database.sqlite"), randomBytes(300_000));
  await writeFile(join(n8n, "database.sqlite-wal"), randomBytes(40_000));
  await writeFile(join(n8n, "config"), JSON.stringify({ encryptionKey: MARKER }), { mode: 0o600 });
  await writeFile(join(n8n, "nodes", "package.json"), "{}\n");
  const uploads = join(volumes(), "tapbot-directus-uploads");
  await mkdir(join(uploads, "thumbs"), { recursive: true });
  await writeFile(join(uploads, "a1b2.png"), randomBytes(3_000_000));
  await writeFile(join(uploads, "c3d4.jpg"), Buffer.concat([Buffer.from(MARKER), randomBytes(50_000)]));
  await writeFile(join(uploads, "thumbs", "a1b2__small.webp"), randomBytes(9_000));
}, 60_000);

afterAll(async () => {
  await Promise.all([s3?.stop(), source?.stop()]);
  if (dir !== undefined) await removeTempDir(dir);
});

describe("the restore drill against a strict S3 server", () => {
  it("backs up PostgreSQL, n8n and Directus uploads encrypted, and restores them from the bucket alone", async () => {
    const data = await runBackup(dataScript(), "data");
    expect(data.code, data.stderr + data.stdout).toBe(0);
    const automation = await runBackup(automationScript(), "automation");
    expect(automation.code, automation.stderr + automation.stdout).toBe(0);
    expect(s3.refusals).toEqual([]);

    // n8n was frozen only while its volume was copied, and is running again.
    expect((await readFile(join(dir, "docker.log"), "utf8")).trim().split("\n")).toEqual([
      "pause tapbot-n8n",
      "unpause tapbot-n8n",
    ]);
    // Each store says it succeeded, now.
    for (const store of ["postgres", "directus", "n8n"]) {
      const m = await metrics(store);
      expect(m.tapbot_backup_last_run_success, store).toBe(1);
      expect(
        Math.abs((m.tapbot_backup_last_success_timestamp_seconds ?? 0) - Date.now() / 1000),
      ).toBeLessThan(120);
    }
    // The provider holds ciphertext only: no object contains a prompt, the n8n key or an upload's bytes.
    const objects = [...s3.objects(BUCKET).values()];
    expect(objects.length).toBeGreaterThan(5);
    expect(objects.some((o) => o.body.includes(MARKER))).toBe(false);
    // and without the repository password the bucket's keys give nothing either.
    const wrongPassword = await restic(["snapshots"], {
      ...resticEnv(),
      RESTIC_PASSWORD: "not-the-password",
    });
    expect(wrongPassword.code).not.toBe(0);
    expect(wrongPassword.stderr).toMatch(/wrong password/);

    // Restore PostgreSQL into a fresh cluster from the bucket: the dump restic kept, then pg_restore.
    const restoreStarted = Date.now();
    const fresh = await startPostgres();
    try {
      const dumpFile = join(dir, "restored.dump");
      const dumped = await runTool(
        "bash",
        ["-c", `restic dump latest /tapbot.dump --tag store=postgres >"${dumpFile}"`],
        {
          env: resticEnv(),
          timeoutMs: 30_000,
        },
      );
      expect(dumped.code, dumped.stderr).toBe(0);
      const restored = await runTool(pgRestore, ["--exit-on-error", `--dbname=${fresh.url}`, dumpFile]);
      expect(restored.code, restored.stderr).toBe(0);
      const before = await tableFigures(source.url);
      const after = await tableFigures(fresh.url);
      expect(Object.keys(before).sort()).toEqual(["generations", "pgmigrations", "users"]);
      expect(after).toEqual(before);
      expect(before.users?.rows).toBe(2000);
      expect(before.generations?.rows).toBe(8000);

      // The file stores: restored byte for byte (and mode) from their own snapshots.
      const target = join(dir, "restored");
      for (const [store, role] of [
        ["directus", "data"],
        ["n8n", "automation"],
      ] as const) {
        const result = await restic(
          ["restore", "latest", "--tag", `store=${store}`, "--target", join(target, store)],
          resticEnv(s3.secretAccessKey, role),
        );
        expect(result.code, result.stderr).toBe(0);
      }
      const restoredUploads = await tree(join(target, "directus", volumes(), "tapbot-directus-uploads"));
      const restoredN8n = await tree(join(target, "n8n", join(dir, "staging-n8n")));
      expect(restoredUploads).toEqual(await tree(join(volumes(), "tapbot-directus-uploads")));
      expect(restoredN8n).toEqual(await tree(join(volumes(), "tapbot-n8n")));
      const restoreSeconds = (Date.now() - restoreStarted) / 1000;

      const bytes = objects.reduce((sum, o) => sum + o.body.length, 0);
      console.log(
        [
          "restore drill (restic → strict S3 → fresh PostgreSQL / directories):",
          ...Object.entries(after).map(
            ([table, f]) => `  ${table}: ${f.rows} rows, md5 ${f.md5} (source ${before[table]?.md5})`,
          ),
          `  directus uploads: ${Object.keys(restoredUploads).length} files byte-equal; n8n: ${Object.keys(restoredN8n).length} files byte-equal`,
          `  backup ${data.seconds.toFixed(1)} s (data) + ${automation.seconds.toFixed(1)} s (n8n); restore ${restoreSeconds.toFixed(1)} s; bucket ${objects.length} objects, ${bytes} bytes, no plaintext marker`,
        ].join("\n"),
      );
    } finally {
      await fresh.stop();
    }
  }, 120_000);

  it("refuses a wrong S3 secret key: the run fails, the success time stays, the failure is recorded and BackupFailed fires", async () => {
    const before = { postgres: await metrics("postgres"), directus: await metrics("directus") };
    const dumpsBefore = (await readdir(join(dir, "dumps"))).length;
    const refusalsBefore = s3.refusals.length;
    const run = await runBackup(dataScript(), "data", "wrong-secret-key-wrong-secret-key");
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("signature we calculated does not match");
    expect(s3.refusals.slice(refusalsBefore)).toContain("403 SignatureDoesNotMatch");
    for (const store of ["postgres", "directus"]) {
      const after = await metrics(store);
      expect(after.tapbot_backup_last_run_success, store).toBe(0);
      expect(after.tapbot_backup_last_success_timestamp_seconds, store).toBe(
        before[store as keyof typeof before].tapbot_backup_last_success_timestamp_seconds,
      );
      expect(after.tapbot_backup_last_failure_timestamp_seconds, store).toBeGreaterThanOrEqual(
        Math.floor(Date.now() / 1000) - 120,
      );
    }
    // The night's dump is still made locally; only its offsite copy failed.
    expect((await readdir(join(dir, "dumps"))).length).toBe(dumpsBefore + 1);

    // What node-exporter would read from the textfile, as Prometheus scrapes it from the data host, makes the
    // program's own alert rules fire BackupFailed (promtool's unit test of the rendered rules).
    const scraped = { job: "node", host: "data", instance: "node-data" };
    const series = (await readFile(join(textfiles(), "tapbot_backup_directus.prom"), "utf8"))
      .split("\n")
      .filter((line) => line.startsWith("tapbot_backup_"))
      .map((line) => {
        const [name, value] = line.split(" ");
        return {
          series: (name ?? "").replace("{", `{job="node",host="data",instance="node-data",`),
          values: `${value}x20`,
        };
      });
    const ruleFile = join(dir, "rules.yml");
    await writeFile(ruleFile, renderAlertRules(alertRulesInput(stackPlan(300))));
    const testFile = join(dir, "rules.test.yml");
    await writeFile(
      testFile,
      stringify({
        rule_files: [ruleFile],
        evaluation_interval: "1m",
        tests: [
          {
            interval: "1m",
            input_series: series,
            alert_rule_test: [
              {
                eval_time: "5m",
                alertname: "BackupFailed",
                exp_alerts: [
                  {
                    exp_labels: { ...scraped, store: "directus", severity: "critical" },
                    exp_annotations: {
                      summary: "the last directus backup run failed",
                      description:
                        "See the backup timer's journal on the host; the previous good copy is still offsite.",
                    },
                  },
                ],
              },
            ],
          },
        ],
      }),
    );
    const promtool = await runTool("promtool", ["test", "rules", testFile]);
    expect(promtool.code, promtool.stdout + promtool.stderr).toBe(0);
  }, 60_000);

  it("fails at once when the bucket is unreachable, without pausing n8n, and records the failure", async () => {
    const before = await metrics("n8n");
    await writeFile(join(dir, "docker.log"), "");
    const closed = `https://127.0.0.1:${await freePort()}`;
    const run = await runBackup(automationScript(), "automation", s3.secretAccessKey, closed);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("connection refused");
    expect(run.stderr).toContain("the offsite repository is not reachable or not configured");
    expect(run.seconds).toBeLessThan(30);
    expect(await readFile(join(dir, "docker.log"), "utf8")).toBe("");
    const after = await metrics("n8n");
    expect(after.tapbot_backup_last_run_success).toBe(0);
    expect(after.tapbot_backup_last_success_timestamp_seconds).toBe(
      before.tapbot_backup_last_success_timestamp_seconds,
    );
  }, 60_000);

  it("keeps exactly what the retention says, per store, and leaves the other stores' snapshots alone", async () => {
    // Old directus snapshots with faked dates, all far before now: the script adds today's and prunes.
    const dates = [
      "2020-08-15 03:30:00",
      "2020-09-10 03:30:00",
      "2020-09-30 03:30:00",
      "2020-10-05 03:30:00",
      "2020-10-20 03:30:00",
      "2020-10-21 03:30:00",
    ];
    const uploads = join(volumes(), "tapbot-directus-uploads");
    for (const time of dates) {
      const made = await restic([
        "backup",
        "--host",
        "tapbot-data",
        "--tag",
        "store=directus",
        "--time",
        time,
        uploads,
      ]);
      expect(made.code, made.stderr).toBe(0);
    }
    const run = await runBackup(dataScript({ daily: 2, weekly: 2, monthly: 3 }), "data");
    expect(run.code, run.stderr + run.stdout).toBe(0);
    const listed = await restic(["snapshots", "--json"]);
    expect(listed.code, listed.stderr).toBe(0);
    const snapshots = JSON.parse(listed.stdout) as { time: string; tags: string[] }[];
    const times = (store: string) =>
      snapshots
        .filter((snap) => snap.tags.includes(`store=${store}`))
        .map((snap) => snap.time.slice(0, 10))
        .sort();
    const today = new Date().toISOString().slice(0, 10);
    // daily 2: today and 2020-10-21; weekly 2: today's week and 10-21's (10-20 is the same week);
    // monthly 3: this month, October (10-21) and September's newest (09-30). August is the 4th month.
    expect(times("directus")).toEqual(["2020-09-30", "2020-10-21", today]);
    // postgres kept its newest per day: the drill's and today's runs are one day, so one snapshot.
    expect(times("postgres")).toEqual([today]);
    console.log(`retention daily 2 / weekly 2 / monthly 3 kept directus ${times("directus").join(", ")}`);
  }, 60_000);
});

describe("without an offsite repository", () => {
  it("still dumps PostgreSQL locally every night and says so in its metrics", async () => {
    const local: BackupScriptOptions = {
      host: "tapbot-data",
      stores: [{ name: "postgres", source: { kind: "pg-dump", dumpScript: join(dir, "tapbot-pg-dump") } }],
      offsite: null,
      textfileDir: join(dir, "textfile-local"),
    };
    const result = await runTool("bash", ["-c", renderBackupScript(local)], {
      env: { PATH: `${binDir}:${process.env.PATH ?? ""}`, VOLUMES: volumes() },
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/postgres: local dump .*tapbot-\d{8}T\d{6}Z\.dump/);
    const text = await readFile(join(dir, "textfile-local", "tapbot_backup_postgres.prom"), "utf8");
    expect(text).toMatch(/^tapbot_backup_last_run_success\{store="postgres"\} 1$/m);
    expect(text).toMatch(/^tapbot_backup_last_success_timestamp_seconds\{store="postgres"\} \d+$/m);
  });

  it("refuses stores that would have no copy at all, naming the store and the setting", () => {
    expect(() =>
      renderBackupScript({
        host: "tapbot-automation",
        stores: [{ name: "n8n", source: { kind: "volume", volume: "tapbot-n8n" } }],
        offsite: null,
        textfileDir: "/var/lib/node_exporter/textfile_collector",
      }),
    ).toThrow("backup store n8n (volume) needs an offsite repository (tapbot:offsiteBackup)");
    expect(() => renderBackupScript({ ...dataScript({ daily: 0, weekly: 0, monthly: 0 }) })).toThrow(
      /retention keeps nothing/,
    );
  });
});
