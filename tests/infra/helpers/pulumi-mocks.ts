import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import { SECRET_KEYS, type SecretKey } from "../../../infra/config.js";
import { rawStackConfig, wireguardPublicKey } from "./stack-config.js";

/** A resource the program registered, with its inputs as the engine would receive them. */
export interface Registered {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  /** The resource options the engine would enforce on delete (read off the registration request). */
  protect: boolean;
  retainOnDelete: boolean;
  /** URNs of the resources it depends on (dependsOn and the resources its inputs come from). */
  dependencies: string[];
  /** The provider reference (`urn::id`) of a resource created through an explicit provider. */
  provider?: string;
}

/** Every registration since the last {@link resetRegistrations}. */
export const registered: Registered[] = [];

export function resetRegistrations(): void {
  registered.length = 0;
}

/**
 * Recognisable values for every secret, long enough to pass the program's checks; the board's hash has the
 * form of a bcrypt hash, as the program requires.
 */
export const SECRET_VALUES: Record<SecretKey, string> = {
  ...(Object.fromEntries(
    (Object.keys(SECRET_KEYS) as SecretKey[]).map((key) => [key, `${key}-SECRET-${"x".repeat(64)}`]),
  ) as Record<SecretKey, string>),
  boardPasswordHash: `$2b$10$boardPasswordHashSECRET${"x".repeat(30)}`,
};

/** What the engine sends for a secret: the value wrapped with the secret signature. */
export function isSecretWrapper(value: unknown): boolean {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<string, unknown>)["4dabf18193072939515e22adb298388d"] ===
      "1b47061264138c4ac30d75fd1eb44270"
  );
}

/** The value behind a secret wrapper (or the value itself). */
export function unwrap(value: unknown): unknown {
  return isSecretWrapper(value) ? (value as { value: unknown }).value : value;
}

const keys = new Map<string, string>();

/** What the Swarm's token command prints under the mocks: a worker join token (a secret). */
export const SWARM_TOKEN = "SWMTKN-1-0mockswarmtoken0000000000000000000000000000-mockworkertoken00000000";

/** The node id a join script prints under the mocks: 25 characters of a-z0-9, one per join resource. */
export function swarmNodeId(resourceName: string): string {
  return `n${createHash("sha256").update(resourceName).digest("hex").slice(0, 24)}`;
}

/**
 * Installs Pulumi's mocks: every registration is recorded; remote commands print nothing except the
 * WireGuard key scripts (a fresh public key per host); images and networks echo their names.
 */
export async function installMocks(): Promise<void> {
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const options = requestOptions.get(`${args.type}::${args.name}`) ?? {
          protect: false,
          retainOnDelete: false,
          dependencies: [],
        };
        registered.push({
          type: args.type,
          name: args.name,
          inputs: args.inputs as Record<string, unknown>,
          ...options,
          ...(args.provider === undefined ? {} : { provider: args.provider }),
        });
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === "command:remote:Command") {
          let key = keys.get(args.name);
          if (key === undefined) {
            key = wireguardPublicKey();
            keys.set(args.name, key);
          }
          state.stdout = args.name.endsWith("-wireguard-key")
            ? `${key}\n`
            : args.name.endsWith("-token")
              ? `${SWARM_TOKEN}\n`
              : /-join-/.test(args.name)
                ? `${swarmNodeId(args.name)}\n`
                : "";
          state.stderr = "";
        }
        if (args.type === "docker:index/remoteImage:RemoteImage") state.imageId = `sha256:${args.name}`;
        return { id: `${args.name}-id`, state };
      },
      call(args) {
        return args.inputs;
      },
    },
    "tapbot",
    "prod",
    false,
  );
  // Pulumi's mocks hand newResource no resource options; the registration request has them, so read
  // protect and retainOnDelete off it before the mock monitor sees it.
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(req: RegisterRequest, callback: unknown): unknown;
  };
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    requestOptions.set(`${req.getType()}::${req.getName()}`, {
      protect: req.getProtect() === true,
      retainOnDelete: req.getRetainondelete() === true,
      dependencies: req.getDependenciesList(),
    });
    return original(req, callback);
  };
}

/** The parts of Pulumi's RegisterResourceRequest read here. */
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getProtect(): boolean | undefined;
  getRetainondelete(): boolean | undefined;
  getDependenciesList(): string[];
}

/** Options of each registration by type and name, from the request, until its newResource records them. */
const requestOptions = new Map<
  string,
  { protect: boolean; retainOnDelete: boolean; dependencies: string[] }
>();

/** Sets the stack config Pulumi would hand the program: the owner's plain values, the users, every secret. */
export function setStackConfig(users: number, overrides: Record<string, string | undefined> = {}): void {
  const config: Record<string, string> = { ...rawStackConfig(users) };
  for (const [key, value] of Object.entries(SECRET_VALUES)) config[`tapbot:${key}`] = value;
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete config[key];
    else config[key] = value;
  }
  pulumi.runtime.setAllConfig(
    config,
    Object.keys(SECRET_VALUES).map((key) => `tapbot:${key}`),
  );
}

/** Resolves an Output (or plain value) in a test. */
export function resolve<T>(output: pulumi.Input<T>): Promise<T> {
  return new Promise((done) => {
    pulumi.output(output).apply((value) => {
      done(value as T);
      return value;
    });
  });
}

/**
 * Runs the program under mocks for the test stack (with `overrides` of its raw config) and returns what it
 * registered, as a first `pulumi up` would create it.
 */
export async function firstUpResources(overrides: Record<string, string> = {}): Promise<Registered[]> {
  await installMocks();
  const program = await import("../../../infra/program.js");
  resetRegistrations();
  setStackConfig(300, overrides);
  const outputs = await program.deployStack();
  const { app, data } = outputs.components;
  await Promise.all([...app.workers, ...app.bots, data.directus].map((c) => resolve(c.id)));
  return [...registered];
}
