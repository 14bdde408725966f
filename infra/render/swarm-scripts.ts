import { scriptPrelude, shellQuote } from "./shell-script.js";
import { HOST_LABEL } from "./swarm-stack.js";

/** The Swarm's ports, all of them on the tunnel only (render/ufw-script.ts opens them `in on wg0`). */
export const SWARM_PORTS = [
  { port: 2377, proto: "tcp", what: "swarm managers" },
  { port: 7946, proto: "tcp", what: "swarm gossip" },
  { port: 7946, proto: "udp", what: "swarm gossip" },
  { port: 4789, proto: "udp", what: "swarm overlay (VXLAN)" },
] as const;

/** The manager's port for joins and its API (`--listen-addr <tunnel>:2377`). */
export const SWARM_MANAGER_PORT = 2377;

function checkAddress(address: string, what: string): void {
  if (!/^[0-9]{1,3}(\.[0-9]{1,3}){3}$/.test(address)) {
    throw new Error(`${what} must be an IPv4 address; got ${address}`);
  }
}

function checkHostName(name: string): void {
  if (!/^[a-z][a-z0-9-]{0,30}$/.test(name)) throw new Error(`a host name must be like worker-1; got ${name}`);
}

/** Every Swarm address flag of a node: control plane, gossip and VXLAN data all on the tunnel address. */
function addressFlags(address: string, listenPort: number): string {
  return `--advertise-addr ${address} --listen-addr ${address}:${listenPort} --data-path-addr ${address}`;
}

/** Options of {@link renderSwarmInitScript}. */
export interface SwarmInitOptions {
  /** The manager's tunnel address: nothing of the Swarm listens on a public address. */
  address: string;
  /** Its plan host name, the node label `tapbot.host`. */
  hostName: string;
  /** @defaultValue 2377 */
  listenPort?: number;
}

/**
 * Makes this host the Swarm's manager, once (a node already in a Swarm is left as it is), and labels it with its
 * plan host name, which the stack's placement constraints name. Prints nothing secret: the join tokens are read
 * by {@link renderSwarmTokenScript}, whose output is kept secret.
 */
export function renderSwarmInitScript(options: SwarmInitOptions): string {
  checkAddress(options.address, "the manager's tunnel address");
  checkHostName(options.hostName);
  const port = options.listenPort ?? SWARM_MANAGER_PORT;
  return `${scriptPrelude("Docker Swarm: this host is the manager, on the tunnel address only")}
state="$(docker info --format '{{.Swarm.LocalNodeState}}')"
if [ "$state" != active ]; then
  docker swarm init ${addressFlags(options.address, port)}
fi
node="$(docker info --format '{{.Swarm.NodeID}}')"
docker node update --label-add ${shellQuote(`${HOST_LABEL}=${options.hostName}`)} "$node" >/dev/null
echo "swarm manager $node labelled ${HOST_LABEL}=${options.hostName}"
`;
}

/** Prints the worker join token (a secret: run it with its output kept out of logs and state in plain text). */
export function renderSwarmTokenScript(): string {
  return `${scriptPrelude("Docker Swarm: the worker join token (secret output)")}
docker swarm join-token --quiet worker
`;
}

/** Options of {@link renderSwarmJoinScript}. */
export interface SwarmJoinOptions {
  /** This host's tunnel address. */
  address: string;
  /** The manager's tunnel address. */
  managerAddress: string;
  /** The worker join token (`SWMTKN-1-…`): the script is a secret as a whole. */
  token: string;
  /** @defaultValue 2377 */
  listenPort?: number;
}

/**
 * Joins this host to the Swarm as a worker, once, over the tunnel, and prints its node id (not a secret) for
 * the manager to label. The token reaches the host inside this script on stdin, never on a command line that
 * Pulumi shows.
 */
export function renderSwarmJoinScript(options: SwarmJoinOptions): string {
  checkAddress(options.address, "the host's tunnel address");
  checkAddress(options.managerAddress, "the manager's tunnel address");
  if (!/^SWMTKN-1-[a-z0-9-]+$/.test(options.token)) {
    throw new Error(
      "the swarm join token must look like SWMTKN-1-… (docker swarm join-token --quiet worker)",
    );
  }
  const port = options.listenPort ?? SWARM_MANAGER_PORT;
  return `${scriptPrelude("Docker Swarm: join as a worker, on the tunnel address only")}
state="$(docker info --format '{{.Swarm.LocalNodeState}}')"
if [ "$state" != active ]; then
  docker swarm join --token ${shellQuote(options.token)} ${addressFlags(options.address, port)} ${options.managerAddress}:${SWARM_MANAGER_PORT} >/dev/null
fi
docker info --format '{{.Swarm.NodeID}}'
`;
}

/** Labels a joined node with its plan host name (run on the manager). */
export function renderSwarmLabelScript(nodeId: string, hostName: string): string {
  if (!/^[a-z0-9]{25}$/.test(nodeId.trim())) {
    throw new Error(`a swarm node id is 25 characters of a-z0-9; got ${JSON.stringify(nodeId)}`);
  }
  checkHostName(hostName);
  return `${scriptPrelude(`Docker Swarm: label node ${hostName}`)}
docker node update --label-add ${shellQuote(`${HOST_LABEL}=${hostName}`)} ${nodeId.trim()} >/dev/null
echo "swarm node ${nodeId.trim()} labelled ${HOST_LABEL}=${hostName}"
`;
}

/** One Swarm secret of the stack: its versioned name and its value. */
export interface SwarmSecretValue {
  name: string;
  value: string;
}

/** Heredoc delimiter of the stack file inside the deploy script. */
const STACK_END = "TAPBOT_STACK_END";

/**
 * Creates the stack's secrets that do not exist yet (each name carries a digest of its value: Swarm secrets
 * cannot change, a new value is a new secret, and the stack file names the one in use), deploys the stack file
 * with `--resolve-image never` (the image is loaded on each host, there is no registry) and `--prune`, waits up
 * to `convergeSeconds` for every service to converge (its rolling update done, every replica running), failing
 * with the tasks that are not running and why, and then removes the stack's secrets no service uses any more.
 * The script holds secret values: run it with its stdin and output secret.
 */
export function renderStackDeployScript(options: {
  stack: string;
  stackFile: string;
  secrets: SwarmSecretValue[];
  /** How long to wait for convergence; 0 returns as soon as the services are updated. @defaultValue 600 */
  convergeSeconds?: number;
}): string {
  if (options.stackFile.split("\n").includes(STACK_END)) {
    throw new Error(`the stack file contains the line ${STACK_END}`);
  }
  const converge = options.convergeSeconds ?? 600;
  if (!Number.isInteger(converge) || converge < 0) {
    throw new Error(`convergeSeconds must be whole seconds ≥ 0; got ${converge}`);
  }
  const creates = options.secrets.map((s) => {
    if (!/^[a-z0-9_-]{1,64}$/.test(s.name)) throw new Error(`bad swarm secret name ${s.name}`);
    return `if ! docker secret inspect ${s.name} >/dev/null 2>&1; then
  # shellcheck disable=SC2016 # the value is literal, whatever it holds
  printf '%s' ${shellQuote(s.value)} | docker secret create --label tapbot.stack=${options.stack} ${s.name} - >/dev/null
fi`;
  });
  const deploy = `docker stack deploy --prune --resolve-image never --compose-file "$stack_file"`;
  const inUse = options.secrets.map((s) => s.name).join(" ");
  return `${scriptPrelude("Docker Swarm: the app's secrets and stack")}
${creates.join("\n")}
stack_file="$(mktemp)"
trap 'rm -f "$stack_file"' EXIT
cat >"$stack_file" <<'${STACK_END}'
${options.stackFile.endsWith("\n") ? options.stackFile : `${options.stackFile}\n`}${STACK_END}
${
  converge === 0
    ? `${deploy} ${options.stack}`
    : `if ! timeout ${converge} ${deploy} --detach=false ${options.stack} >/dev/null; then
  echo "the stack ${options.stack} did not converge within ${converge} s, or its update failed; its tasks that are not running:" >&2
  docker stack ps --no-trunc --format '{{.Name}} on {{.Node}}: {{.CurrentState}} {{.Error}}' ${options.stack} | grep -v ' Running ' >&2 || true
  exit 1
fi`
}
in_use=" ${inUse} "
for old in $(docker secret ls --filter label=tapbot.stack=${options.stack} --format '{{.Name}}'); do
  case "$in_use" in *" $old "*) ;; *) docker secret rm "$old" >/dev/null 2>&1 || true ;; esac
done
`;
}
