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
 * A secret as a file rather than an environment variable (`NAME_FILE`, the convention the app, the official
 * PostgreSQL image, Directus and Grafana follow (Grafana writes `NAME__FILE`: pass `fileVariable`)): the
 * Docker provider uploads it into the container, owned by the user that reads it (`uid`) and readable by it
 * alone, so it shows neither in `docker inspect` nor in the environment of every process in the container.
 * The content stays a Pulumi secret (encrypted in the state, never in outputs).
 */
export function secretFile(
  variable: string,
  value: pulumi.Input<string>,
  uid: number,
  fileVariable = `${variable}_FILE`,
): SecretFile {
  if (!/^[A-Z][A-Z0-9_]*$/.test(variable))
    throw new Error(`a secret's variable must be NAME_LIKE_THIS; got ${variable}`);
  const file = `${SECRETS_DIR}/${variable.toLowerCase()}`;
  return {
    env: `${fileVariable}=${file}`,
    upload: {
      file,
      content: pulumi.secret(value),
      owner: String(uid),
      group: String(uid),
      permissions: "0400",
    },
  };
}

/** The user ids that read the secret files, per image (each image's own USER). */
export const IMAGE_UIDS = {
  /** The official postgres image's entrypoint reads POSTGRES_PASSWORD_FILE as root, before it drops to postgres. */
  postgres: 0,
  /** directus/directus runs as `node`. */
  directus: 1000,
  /** grafana/grafana runs as `grafana`, uid 472. */
  grafana: 472,
} as const;
