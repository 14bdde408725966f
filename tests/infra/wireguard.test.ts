import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { renderWireguardConfig, renderWireguardKeyScript } from "../../infra/render/wireguard.js";
import { makeTempDir, removeTempDir } from "../support/temp-dir.js";
import { requireRoot, runTool } from "./helpers/run-tool.js";
import { wireguardPublicKey } from "./helpers/stack-config.js";

let dir: string;
beforeAll(async () => {
  dir = await makeTempDir("wg");
});
afterAll(async () => {
  await removeTempDir(dir);
});

describe("the WireGuard key script", () => {
  it("creates the private key once, 0600, and prints only its public key, the same on every run", async () => {
    requireRoot("the script runs in a private mount namespace with a tmpfs over /etc/wireguard");
    const script = join(dir, "key.sh");
    await writeFile(script, renderWireguardKeyScript());
    // Both runs share one tmpfs, so the second run sees the key the first one created.
    const result = await runTool("unshare", [
      "--mount",
      "--propagation",
      "private",
      "bash",
      "-c",
      `mkdir -p /etc/wireguard && mount -t tmpfs -o mode=0700 none /etc/wireguard && bash ${script} && bash ${script} && stat -c %a /etc/wireguard/wg0.key && wg pubkey </etc/wireguard/wg0.key`,
    ]);
    expect(result.code, result.stderr).toBe(0);
    const [first, second, mode, derived] = result.stdout.trim().split("\n");
    expect(first).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(second).toBe(first);
    expect(mode).toBe("600");
    expect(derived).toBe(first);
  });
});

describe("wg0.conf", () => {
  const peerKey = wireguardPublicKey();
  const file = renderWireguardConfig({
    address: "10.77.0.1/24",
    listenPort: 51820,
    peers: [{ publicKey: peerKey, endpoint: "178.236.17.186:51820", allowedIp: "10.77.0.2/32" }],
  });

  it("is read by wg-quick, and what it hands to wg has the peer and no private key", async () => {
    const path = join(dir, "wg0.conf");
    await writeFile(path, file.content, { mode: 0o600 });
    const result = await runTool("wg-quick", ["strip", path]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`PublicKey = ${peerKey}`);
    expect(result.stdout).toContain("AllowedIPs = 10.77.0.2/32");
    expect(result.stdout).toContain("ListenPort = 51820");
    expect(result.stdout).not.toMatch(/PrivateKey/);
    expect(file.content).toContain("PostUp = wg set %i private-key /etc/wireguard/wg0.key");
    expect(file.mode).toBe("0600");
  });

  it("refuses a peer key that is not a WireGuard public key", () => {
    expect(() =>
      renderWireguardConfig({
        address: "10.77.0.1/24",
        listenPort: 51820,
        peers: [{ publicKey: "not-a-key", endpoint: "178.236.17.186:51820", allowedIp: "10.77.0.2/32" }],
      }),
    ).toThrow(/public key/);
  });
});
