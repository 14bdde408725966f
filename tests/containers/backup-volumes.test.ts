import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderBackupEnv } from "../../infra/render/backup-env.js";
import { type BackupScriptOptions, renderBackupScript } from "../../infra/render/backup-script.js";
import { runTool } from "../infra/helpers/run-tool.js";
import { type FakeS3, startFakeS3 } from "../support/fake-s3.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { waitUntil } from "../support/wait-until.js";
import { BUSYBOX_IMAGE, importBusyboxImage } from "./support/busybox-image.js";
import { type Dockerd, startDockerd } from "./support/dockerd.js";

/**
 * The volume stores of the backup script against a real Docker engine: the real `docker volume inspect`,
 * `docker pause` / `docker unpause` of a container that keeps writing (n8n's stand-in, a busybox appending a
 * line a second to its "database"), real restic and the strict S3 server. What the drill's docker stand-in
 * cannot show: the mount point Docker reports is where the data is, the container is frozen while it is
 * copied and running again afterwards, and the copy holds only whole lines.
 */

const BUCKET = "tapbot-backups";
const PASSWORD = "volume-drill-password-0123456789";
let engine: Dockerd;
let s3: FakeS3;
let dir: string;

function env(role: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    DOCKER_HOST: engine.host,
    HOME: dir,
    XDG_CACHE_HOME: join(dir, "cache"),
    SSL_CERT_FILE: s3.caFile,
    RESTIC_REPOSITORY: `s3:${s3.endpoint}/${BUCKET}/tapbot/${role}`,
    RESTIC_PASSWORD: PASSWORD,
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  };
}

async function runScript(options: BackupScriptOptions, role: string) {
  const envFile = join(dir, `${role}.env`);
  await writeFile(
    envFile,
    renderBackupEnv({
      repository: `s3:${s3.endpoint}/${BUCKET}/tapbot/${role}`,
      password: PASSWORD,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
    }),
    { mode: 0o400 },
  );
  const script = renderBackupScript({
    ...options,
    offsite: { envFile, retention: { daily: 7, weekly: 4, monthly: 6 } },
  });
  const {
    RESTIC_REPOSITORY: _r,
    RESTIC_PASSWORD: _p,
    AWS_ACCESS_KEY_ID: _a,
    AWS_SECRET_ACCESS_KEY: _s,
    ...base
  } = env(role);
  return runTool("bash", ["-c", script], { env: base, timeoutMs: 60_000 });
}

async function volumePath(name: string): Promise<string> {
  return (await engine.mustDocker(["volume", "inspect", "--format", "{{ .Mountpoint }}", name])).trim();
}

async function lines(path: string): Promise<string[]> {
  return (await readFile(path, "utf8")).split("\n").filter((line) => line !== "");
}

beforeAll(async () => {
  [engine, s3, dir] = await Promise.all([
    startDockerd(),
    startFakeS3({ buckets: [BUCKET] }),
    makeTempDir("backup-volumes"),
  ]);
  await importBusyboxImage(engine);
  await engine.mustDocker(["volume", "create", "tapbot-n8n"]);
  await engine.mustDocker(["volume", "create", "tapbot-directus-uploads"]);
  await engine.mustDocker([
    "run",
    "--rm",
    "-v",
    "tapbot-directus-uploads:/directus/uploads",
    BUSYBOX_IMAGE,
    "sh",
    "-c",
    "echo 'a png, say' > /directus/uploads/a1b2.png && echo 'a jpeg' > /directus/uploads/c3d4.jpg",
  ]);
  await engine.mustDocker([
    "run",
    "-d",
    "--name",
    "tapbot-n8n",
    "-v",
    "tapbot-n8n:/home/node/.n8n",
    BUSYBOX_IMAGE,
    "sh",
    "-c",
    'echo "{\\"encryptionKey\\":\\"k\\"}" > /home/node/.n8n/config; i=0; while :; do i=$((i+1)); echo "execution $i done" >> /home/node/.n8n/database.log; sleep 1; done',
  ]);
}, 180_000);

afterAll(async () => {
  await Promise.all([engine?.stop(), s3?.stop()]);
  if (dir !== undefined) await removeTempDir(dir);
});

describe("the backup's volume stores on a real Docker engine", () => {
  it("copies n8n's volume while its container is paused, unpauses it, and restores whole lines only", async () => {
    const n8nData = await volumePath("tapbot-n8n");
    await waitUntil(
      async () => ((await lines(join(n8nData, "database.log"))).length >= 2 ? true : undefined),
      {
        timeoutMs: 20_000,
        describe: () => "the stand-in n8n never wrote",
      },
    );
    const since = Math.floor(Date.now() / 1000) - 1;
    const staging = join(dir, "staging-n8n");
    const result = await runScript(
      {
        host: "tapbot-automation",
        stores: [
          {
            name: "n8n",
            source: {
              kind: "paused-volume",
              volume: "tapbot-n8n",
              container: "tapbot-n8n",
              stagingDir: staging,
            },
          },
        ],
        offsite: null,
        textfileDir: join(dir, "textfile"),
      },
      "automation",
    );
    expect(result.code, result.stderr + result.stdout).toBe(0);
    // Docker saw exactly one pause and one unpause of the container, in that order, and it runs (and writes) on.
    const until = Math.ceil(Date.now() / 1000) + 1;
    const events = await engine.mustDocker([
      "events",
      "--since",
      String(since),
      "--until",
      String(until),
      "--filter",
      "container=tapbot-n8n",
      "--filter",
      "event=pause",
      "--filter",
      "event=unpause",
      "--format",
      "{{.Action}}",
    ]);
    expect(events.trim().split("\n")).toEqual(["pause", "unpause"]);
    expect((await engine.mustDocker(["inspect", "--format", "{{.State.Status}}", "tapbot-n8n"])).trim()).toBe(
      "running",
    );
    const copied = await lines(join(staging, "database.log"));
    await waitUntil(
      async () => ((await lines(join(n8nData, "database.log"))).length > copied.length ? true : undefined),
      { timeoutMs: 10_000, describe: () => "the stand-in n8n stopped writing after the backup" },
    );

    const target = join(dir, "restored-n8n");
    const restored = await runTool(
      "restic",
      ["restore", "latest", "--tag", "store=n8n", "--target", target],
      {
        env: env("automation"),
        timeoutMs: 30_000,
      },
    );
    expect(restored.code, restored.stderr).toBe(0);
    const back = await lines(join(target, staging, "database.log"));
    const live = await lines(join(n8nData, "database.log"));
    expect(back.length).toBeGreaterThanOrEqual(2);
    expect(back).toEqual(live.slice(0, back.length));
    expect(back.every((line, i) => line === `execution ${i + 1} done`)).toBe(true);
    expect(await readFile(join(target, staging, "config"), "utf8")).toBe('{"encryptionKey":"k"}\n');
  });

  it("backs up the Directus uploads volume from the path Docker reports, byte for byte", async () => {
    const uploads = await volumePath("tapbot-directus-uploads");
    const result = await runScript(
      {
        host: "tapbot-data",
        stores: [{ name: "directus", source: { kind: "volume", volume: "tapbot-directus-uploads" } }],
        offsite: null,
        textfileDir: join(dir, "textfile"),
      },
      "data",
    );
    expect(result.code, result.stderr + result.stdout).toBe(0);
    const target = join(dir, "restored-directus");
    const restored = await runTool(
      "restic",
      ["restore", "latest", "--tag", "store=directus", "--target", target],
      { env: env("data"), timeoutMs: 30_000 },
    );
    expect(restored.code, restored.stderr).toBe(0);
    for (const file of ["a1b2.png", "c3d4.jpg"]) {
      expect(await readFile(join(target, uploads, file))).toEqual(await readFile(join(uploads, file)));
    }
  });
});
