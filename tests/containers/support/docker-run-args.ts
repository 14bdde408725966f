import { join } from "node:path";

/**
 * The inputs of one `docker:index/container:Container` as the program registers them (secrets unwrapped):
 * the subset serviceContainer (infra/components/service-container.ts) sets. Any other input makes
 * {@link dockerCreateArgs} throw, so that a new setting in the program cannot be silently left out here.
 */
export interface ContainerInputs {
  name: string;
  image: string;
  command?: string[];
  envs?: string[];
  memory?: number;
  memorySwap?: number;
  memoryReservation?: number;
  shmSize?: number;
  restart?: string;
  healthcheck?: {
    tests: string[];
    interval?: string;
    timeout?: string;
    retries?: number;
    startPeriod?: string;
  };
  networkMode?: string;
  networksAdvanced?: { name: string; aliases?: string[] }[];
  ports?: { internal: number; external: number; ip?: string; protocol?: string }[];
  volumes?: { containerPath: string; volumeName?: string; hostPath?: string; readOnly?: boolean }[];
  uploads?: { file: string; content: string; owner?: string; group?: string; permissions?: string }[];
  privileged?: boolean;
  pidMode?: string;
  user?: string;
  stopSignal?: string;
  stopTimeout?: number;
  /** Pulumi-side only (how the provider waits and removes); nothing the engine sees. */
  wait?: boolean;
  waitTimeout?: number;
  destroyGraceSeconds?: number;
}

const KNOWN = new Set<string>([
  "name",
  "image",
  "command",
  "envs",
  "memory",
  "memorySwap",
  "memoryReservation",
  "shmSize",
  "restart",
  "healthcheck",
  "networkMode",
  "networksAdvanced",
  "ports",
  "volumes",
  "uploads",
  "privileged",
  "pidMode",
  "user",
  "stopSignal",
  "stopTimeout",
  "wait",
  "waitTimeout",
  "destroyGraceSeconds",
]);

/** A file the provider would upload into the container: here written on the host and bind-mounted. */
export interface HostFile {
  /** Where the caller writes it on the test host. */
  hostPath: string;
  /** Its path in the container (the upload's `file`). */
  file: string;
  content: string;
  uid: number;
  gid: number;
  /** Octal mode, as the upload's permissions (the provider's default 0644). */
  mode: number;
}

/** How to start one declared container with the docker client. */
export interface DockerCreate {
  name: string;
  /** Arguments after `docker create`: options, the image, then the command. */
  args: string[];
  /** Networks beyond the first, joined by `docker network connect` before start (the client takes one). */
  connect: { network: string; aliases: string[] }[];
  /** Files to write on the host before `docker create` (they are bind-mounted read-only). */
  files: HostFile[];
}

/** A plain `/bin/sh -c` word for a CMD-form healthcheck's argument. */
function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The `docker create` arguments that give a container what the Docker provider would give it from these
 * inputs: memory limit, swap and reservation (MB, as the provider takes them), shm size (MB), restart
 * policy, healthcheck, networks with aliases, published ports (`ip:external:internal/protocol`), named and
 * host volumes, privileges, PID mode, user, stop signal and timeout. `images` maps a declared image to the
 * local tag that stands in for it (unmapped: used as declared). Uploads become files under `uploadDir`,
 * bind-mounted read-only at their declared paths with their declared owner and mode. Pure: nothing is run.
 *
 * One translation is not literal: the client's `--health-cmd` is always a shell command, so a healthcheck
 * in exec form (`CMD`, argv) becomes the same argv quoted for `/bin/sh -c` (every image here has a shell).
 */
export function dockerCreateArgs(
  inputs: ContainerInputs,
  opts: { uploadDir: string; images?: Record<string, string> },
): DockerCreate {
  const unknown = Object.keys(inputs).filter(
    (key) => !KNOWN.has(key) && (inputs as unknown as Record<string, unknown>)[key] !== undefined,
  );
  if (unknown.length > 0) {
    throw new Error(
      `${inputs.name}: container inputs ${unknown.join(", ")} have no docker-create translation here; known: ${[...KNOWN].join(", ")}`,
    );
  }
  const args = ["--name", inputs.name];
  const mb = (value: number) => `${value}m`;
  if (inputs.memory !== undefined) args.push("--memory", mb(inputs.memory));
  if (inputs.memorySwap !== undefined) args.push("--memory-swap", mb(inputs.memorySwap));
  if (inputs.memoryReservation !== undefined) args.push("--memory-reservation", mb(inputs.memoryReservation));
  if (inputs.shmSize !== undefined) args.push("--shm-size", mb(inputs.shmSize));
  if (inputs.restart !== undefined) args.push("--restart", inputs.restart);
  const health = inputs.healthcheck;
  if (health !== undefined) {
    const [kind, ...rest] = health.tests;
    if (kind === "NONE") args.push("--no-healthcheck");
    else if (kind === "CMD-SHELL" && rest.length === 1) args.push("--health-cmd", rest[0] as string);
    else if (kind === "CMD" && rest.length > 0) args.push("--health-cmd", rest.map(shellQuote).join(" "));
    else
      throw new Error(
        `${inputs.name}: healthcheck ${JSON.stringify(health.tests)} is neither CMD, CMD-SHELL nor NONE`,
      );
    if (health.interval !== undefined) args.push("--health-interval", health.interval);
    if (health.timeout !== undefined) args.push("--health-timeout", health.timeout);
    if (health.retries !== undefined) args.push("--health-retries", String(health.retries));
    if (health.startPeriod !== undefined) args.push("--health-start-period", health.startPeriod);
  }
  const connect: DockerCreate["connect"] = [];
  if (inputs.networkMode !== undefined) args.push("--network", inputs.networkMode);
  const [first, ...others] = inputs.networksAdvanced ?? [];
  if (first !== undefined) {
    if (inputs.networkMode !== undefined)
      throw new Error(`${inputs.name}: networkMode and networksAdvanced both set`);
    args.push("--network", first.name);
    for (const alias of first.aliases ?? []) args.push("--network-alias", alias);
    for (const other of others) connect.push({ network: other.name, aliases: other.aliases ?? [] });
  }
  for (const port of inputs.ports ?? []) {
    const ip = port.ip === undefined || port.ip === "" ? "" : `${port.ip}:`;
    args.push("--publish", `${ip}${port.external}:${port.internal}/${port.protocol ?? "tcp"}`);
  }
  for (const volume of inputs.volumes ?? []) {
    const source = volume.volumeName ?? volume.hostPath;
    if (source === undefined)
      throw new Error(`${inputs.name}: volume at ${volume.containerPath} has no source`);
    args.push("--volume", `${source}:${volume.containerPath}${volume.readOnly === true ? ":ro" : ""}`);
  }
  const files: HostFile[] = (inputs.uploads ?? []).map((upload) => ({
    hostPath: join(opts.uploadDir, inputs.name, upload.file),
    file: upload.file,
    content: upload.content,
    uid: Number(upload.owner ?? 0),
    gid: Number(upload.group ?? 0),
    mode: Number.parseInt(upload.permissions ?? "0644", 8),
  }));
  for (const file of files) args.push("--volume", `${file.hostPath}:${file.file}:ro`);
  if (inputs.privileged === true) args.push("--privileged");
  if (inputs.pidMode !== undefined) args.push("--pid", inputs.pidMode);
  if (inputs.user !== undefined) args.push("--user", inputs.user);
  if (inputs.stopSignal !== undefined) args.push("--stop-signal", inputs.stopSignal);
  if (inputs.stopTimeout !== undefined) args.push("--stop-timeout", String(inputs.stopTimeout));
  for (const env of inputs.envs ?? []) args.push("--env", env);
  args.push(opts.images?.[inputs.image] ?? inputs.image, ...(inputs.command ?? []));
  return { name: inputs.name, args, connect, files };
}
