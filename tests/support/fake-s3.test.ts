import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runTool } from "../infra/helpers/run-tool.js";
import { type FakeS3, startFakeS3 } from "./fake-s3.js";
import { makeTempDir, removeTempDir } from "./temp-dir.js";

let s3: FakeS3;
let dir: string;
beforeAll(async () => {
  [s3, dir] = await Promise.all([startFakeS3({ buckets: ["drill"] }), makeTempDir("fake-s3-test")]);
});
afterAll(async () => {
  await s3?.stop();
  if (dir !== undefined) await removeTempDir(dir);
});

/** restic against the fake with the given keys; the only client here that signs as real S3 clients do. */
function restic(args: string[], keys: { id?: string; secret?: string } = {}) {
  return runTool("restic", ["--no-cache", ...args], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: dir,
      SSL_CERT_FILE: s3.caFile,
      RESTIC_REPOSITORY: `s3:${s3.endpoint}/drill/repo`,
      RESTIC_PASSWORD: "fake-s3-test-password",
      AWS_ACCESS_KEY_ID: keys.id ?? s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: keys.secret ?? s3.secretAccessKey,
    },
    timeoutMs: 30_000,
  });
}

describe("the fake S3 server", () => {
  it("speaks enough S3 for restic: init, backup, a full read-back check and a restore", async () => {
    expect((await restic(["init"])).code).toBe(0);
    await writeFile(join(dir, "file.bin"), Buffer.alloc(200_000, 7));
    const backup = await restic(["backup", join(dir, "file.bin")]);
    expect(backup.code, backup.stderr).toBe(0);
    const check = await restic(["check", "--read-data"]);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toContain("no errors were found");
    const restored = await restic(["restore", "latest", "--target", join(dir, "back")]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(await readFile(join(dir, "back", dir, "file.bin"))).toEqual(Buffer.alloc(200_000, 7));
    expect(s3.refusals).toEqual([]);
  });

  it("refuses an unknown key id, a wrong secret and an unsigned request, as S3 does", async () => {
    const unknown = await restic(["snapshots"], { id: "NOSUCHKEY" });
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("does not exist in our records");
    const wrong = await restic(["snapshots"], { secret: "not-the-secret-key-at-all" });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain("signature we calculated does not match");
    expect(s3.refusals).toEqual(
      expect.arrayContaining(["403 InvalidAccessKeyId", "403 SignatureDoesNotMatch"]),
    );

    const dispatcher = new Agent({ connect: { ca: await readFile(s3.caFile) } });
    try {
      const anonymous = await request(`${s3.endpoint}/drill/repo/config`, { dispatcher });
      expect(anonymous.statusCode).toBe(403);
      expect(await anonymous.body.text()).toContain("<Code>AccessDenied</Code>");
    } finally {
      await dispatcher.close();
    }
  });
});
