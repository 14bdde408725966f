import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { OFFSITE_SECRET_KEYS, parsePlainConfig, plainConfigSchema, SECRET_KEYS } from "../../infra/config.js";
import { planFromConfig } from "../../infra/program.js";
import { TEST_ADMIN_ALLOW_IPS, TEST_ALERT_CHAT_ID, TEST_HOST_KEYS } from "./helpers/stack-config.js";

/**
 * What the owner adds to Pulumi.prod.yaml himself: his address, the hosts' keys and his alert chat (only he
 * knows them).
 */
const OWNERS_OWN = {
  adminAllowIps: TEST_ADMIN_ALLOW_IPS,
  automationHostKey: TEST_HOST_KEYS.automation,
  dataHostKey: TEST_HOST_KEYS.data,
  alertTelegramChatId: TEST_ALERT_CHAT_ID,
};

interface Declared {
  type?: string;
  default?: unknown;
  description?: string;
  secret?: boolean;
}
const project = parse(readFileSync("Pulumi.yaml", "utf8")) as {
  name: string;
  main: string;
  runtime: { name: string; options: Record<string, unknown> };
  config: Record<string, Declared>;
};
const stack = parse(readFileSync("Pulumi.prod.yaml", "utf8")) as { config: Record<string, unknown> };

describe("Pulumi.yaml", () => {
  it("declares the tapbot project, run as ESM TypeScript through tsx from infra/", () => {
    expect(project.name).toBe("tapbot");
    expect(project.runtime.name).toBe("nodejs");
    expect(project.runtime.options).toMatchObject({ typescript: false, nodeargs: "--import tsx" });
    expect(project.main).toBe("infra/index.ts");
  });

  it("declares exactly the keys the program reads, each described, with the program's own defaults", () => {
    const plainKeys = Object.keys(plainConfigSchema.shape);
    const secretKeys = [...Object.keys(SECRET_KEYS), ...Object.keys(OFFSITE_SECRET_KEYS)];
    expect(Object.keys(project.config).sort()).toEqual([...plainKeys, ...secretKeys].sort());
    const defaults = plainConfigSchema.partial().parse({});
    const zodDefaults = parsePlainConfig({ ...stackPlain(), ...OWNERS_OWN, capacity: { users: 1 } });
    for (const [key, declared] of Object.entries(project.config)) {
      expect(declared.description, key).toBeTruthy();
      if (secretKeys.includes(key)) {
        expect(declared, key).toMatchObject({ type: "string", secret: true });
        expect(declared.default, key).toBeUndefined();
      } else if (declared.default !== undefined) {
        expect(String(declared.default), key).toBe(String((zodDefaults as Record<string, unknown>)[key]));
        expect(
          (defaults as Record<string, unknown>)[key],
          `${key} has a default in the program too`,
        ).toBeDefined();
      }
    }
  });
});

/** The plain keys of Pulumi.prod.yaml without the namespace. */
function stackPlain(): Record<string, unknown> {
  return Object.fromEntries(Object.entries(stack.config).map(([k, v]) => [k.replace(/^tapbot:/, ""), v]));
}

describe("Pulumi.prod.yaml", () => {
  it("holds the owner's two hosts, SSH user, domains and 300 users, and parses once he adds his address, host keys and alert chat", () => {
    expect(() => parsePlainConfig(stackPlain())).toThrow(
      /tapbot:adminAllowIps is required .*pulumi config set --path 'adminAllowIps\[0\]'/,
    );
    expect(() => parsePlainConfig({ ...stackPlain(), adminAllowIps: TEST_ADMIN_ALLOW_IPS })).toThrow(
      /tapbot:automationHostKey is required/,
    );
    expect(() => parsePlainConfig({ ...stackPlain(), adminAllowIps: TEST_ADMIN_ALLOW_IPS })).toThrow(
      /tapbot:alertTelegramChatId is required/,
    );
    const config = parsePlainConfig({ ...stackPlain(), ...OWNERS_OWN });
    expect(config.adminAllowIps).toEqual(TEST_ADMIN_ALLOW_IPS);
    expect(config.automationHost).toBe("93.189.229.59");
    expect(config.dataHost).toBe("178.236.17.186");
    expect(config.n8nDomain.endsWith(".tapbot.kz") && config.directusDomain.endsWith(".tapbot.kz")).toBe(
      true,
    );
    expect(planFromConfig(config).users).toBe(300);
  });

  it("has no secret in plain text: every secret key is absent or encrypted", () => {
    for (const key of [...Object.keys(SECRET_KEYS), ...Object.keys(OFFSITE_SECRET_KEYS)]) {
      const value = stack.config[`tapbot:${key}`];
      if (value !== undefined) expect(value, key).toMatchObject({ secure: expect.any(String) });
    }
  });
});
