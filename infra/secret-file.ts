import * as pulumi from "@pulumi/pulumi";

/** Where a container finds its secret files: Docker secrets' path, which the official images' *_FILE expect. */
export const SECRETS_DIR = "/run/secrets";

/** A file uploaded into a container, as the Docker provider takes it. */
export interface ContainerFile {
  file: string;
  content: pulumi.Input<string>;
  owner?: string;
  group?: string;
  permissions?: string;
}

/** One secret handed to a container as a file, and the variable that names the file. */
export interface SecretFile {
  /** `NAME_FILE=/run/secrets/name`, for the container's environment. */
  env: string;
  /** The file, readable by the container's user only (0400). */
  upload: ContainerFile;
}

/**
 * A secret as a file rather than an environment variable (`NAME_FILE`, which the app reads, see
 * app/secret-files.ts): the Docker provider uploads it into the container, owned by the user the image runs as
 * and readable by it alone, so it shows neither in `docker inspect` nor in the environment of every process in
 * the container. The content stays a Pulumi secret (encrypted in the state, never in outputs).
 */
export function secretFile(variable: string, value: pulumi.Input<string>, uid: number): SecretFile {
  if (!/^[A-Z][A-Z0-9_]*$/.test(variable))
    throw new Error(`a secret's variable must be NAME_LIKE_THIS; got ${variable}`);
  const file = `${SECRETS_DIR}/${variable.toLowerCase()}`;
  return {
    env: `${variable}_FILE=${file}`,
    upload: {
      file,
      content: pulumi.secret(value),
      owner: String(uid),
      group: String(uid),
      permissions: "0400",
    },
  };
}
