import { strictSshOptions } from "../host-keys.js";
import { shellQuote } from "./shell-script.js";

/**
 * The environment variable that hands the SSH private key to {@link renderAppImageScript}: Pulumi passes it
 * as a secret input, the script writes it to a file only it can read in a temp directory it removes on exit,
 * so the key is never on a command line, in the script's text or in its output.
 */
export const SSH_KEY_ENV = "TAPBOT_SSH_PRIVATE_KEY";

/**
 * Optional, set by the owner before `pulumi up` (the command inherits it): a CA bundle the build's npm must
 * trust, on a network whose proxy intercepts TLS. It goes to app/Dockerfile as the BuildKit secret
 * `extra-ca`, which reaches the npm steps only and no layer of the image.
 */
export const BUILD_EXTRA_CA_ENV = "TAPBOT_BUILD_EXTRA_CA";

/** Inputs of {@link renderAppImageScript}. */
export interface AppImageScriptInput {
  /** `tapbot-app:<content hash>` (app-source-hash.ts): the tag is what says whether a build or a ship is due. */
  tag: string;
  /** The Dockerfile, relative to the build context (the directory the script runs in: the repository root). */
  dockerfile: string;
  /** What the automation host runs, e.g. `linux/amd64`: the build machine may be another architecture. */
  platform: string;
  /** The automation host as the program reaches it, with its pinned ed25519 key. */
  host: { address: string; user: string; port: number; hostKey: string };
}

/**
 * The script the machine running `pulumi up` runs to put the app image on the automation host, in two steps
 * each skipped when already done: build `tag` with this machine's Docker (unless it already has that tag),
 * then `docker save | gzip | ssh … docker load` (unless the host already has it). The 4 GB host never builds:
 * it loads a finished image, which needs no build memory and leaves no build cache on its disk.
 *
 * One script rather than a build step and a ship step: the ship needs the image in the local engine, which
 * can be gone by the next deploy (a `docker image prune`, another laptop), so building when absent right
 * before shipping makes every run self-sufficient. The SSH connection trusts only the pinned host key (the
 * same options as the Docker provider's, {@link strictSshOptions}); a host answering with another key gets
 * nothing. The connection is checked apart from "image absent", so a refused connection fails the deploy
 * instead of looking like a missing image.
 */
export function renderAppImageScript(input: AppImageScriptInput): string {
  const { tag, host } = input;
  // The tag goes into the remote command line, which the host's shell splits again: allow only plain characters.
  if (!/^[a-z0-9][a-z0-9._-]*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(tag)) {
    throw new Error(`app image tag must be name:tag of [a-z0-9._-] characters; got ${JSON.stringify(tag)}`);
  }
  if (!Number.isInteger(host.port) || host.port < 1 || host.port > 65535) {
    throw new Error(`SSH port must be an integer from 1 to 65535; got ${host.port}`);
  }
  const target = `${host.user}@${host.address}`;
  const sshArgs = [
    "-p",
    String(host.port),
    ...strictSshOptions(host.address, host.port, host.hostKey),
    "-o",
    "IdentitiesOnly=yes",
  ]
    .map(shellQuote)
    .join(" ");
  return `#!/usr/bin/env bash
# Builds the app image ${tag} on this machine and ships it to the automation host ${target}.
# Rendered by the tapbot Pulumi program (infra/). Idempotent: each step is skipped when already done.
set -euo pipefail

tag=${shellQuote(tag)}
target=${shellQuote(target)}
address=${shellQuote(host.address)}
if [ -z "\${${SSH_KEY_ENV}:-}" ]; then
  echo "${SSH_KEY_ENV} is empty: the program passes tapbot:sshPrivateKey in it" >&2
  exit 2
fi
work="$(mktemp -d)"
# The steps below share one SSH connection (the first becomes its master), which is closed on the way out.
trap 'ssh -o ControlPath="$work/cm" -O exit -- "$target" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
(umask 077 && printf '%s\\n' "$${SSH_KEY_ENV}" >"$work/id")

# ssh_host ARGS...: runs a command on the automation host, trusting only its pinned key.
ssh_host() {
  ssh -i "$work/id" ${sshArgs} -o ControlMaster=auto -o ControlPath="$work/cm" -o ControlPersist=60 -- "$target" "$@"
}
# on_host ARGS...: the same for a command that reads no input. This script arrives on bash's stdin, which
# ssh would otherwise forward to the host, swallowing the rest of the script (bash then stops, exit 0).
on_host() {
  ssh_host "$@" </dev/null
}

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag: already built on this machine"
else
  build_args=()
  if [ -n "\${${BUILD_EXTRA_CA_ENV}:-}" ]; then
    if [ ! -r "$${BUILD_EXTRA_CA_ENV}" ]; then
      echo "${BUILD_EXTRA_CA_ENV}=$${BUILD_EXTRA_CA_ENV} is not a readable file (a PEM CA bundle for the build's npm)" >&2
      exit 2
    fi
    build_args+=(--secret "id=extra-ca,src=$${BUILD_EXTRA_CA_ENV}")
  fi
  # BuildKit: app/Dockerfile's RUN --mount needs it, and Docker before 23 does not use it unless asked.
  DOCKER_BUILDKIT=1 docker build --platform ${shellQuote(input.platform)} --file ${shellQuote(input.dockerfile)} --tag "$tag" "\${build_args[@]}" .
fi

on_host true || {
  echo "cannot reach $target over SSH (port ${host.port}, pinned host key): nothing shipped" >&2
  exit 1
}
if on_host docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag: already on $address"
  exit 0
fi
echo "$tag: shipping to $address"
docker save "$tag" | gzip -1 | ssh_host docker load
on_host docker image inspect "$tag" >/dev/null || {
  echo "$tag: $address does not list the image after docker load" >&2
  exit 1
}
echo "$tag: loaded on $address"
`;
}
