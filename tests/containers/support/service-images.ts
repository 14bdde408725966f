import { chmod, cp, mkdir, realpath, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { runTool } from "../../infra/helpers/run-tool.js";
import { findBinary } from "../../support/find-binary.js";
import { makeTempDir, removeTempDir } from "../../support/temp-dir.js";
import type { Dockerd } from "./dockerd.js";

/** Busybox applets the stand-ins' shells and healthchecks use (`redis-cli ping | grep -q PONG`, the entrypoint). */
const APPLETS = ["sh", "grep", "cat", "mkdir", "chown", "chmod", "rm", "su", "printf", "echo", "sleep", "ls"];

/** The shared libraries `binary` loads (ldd's resolved paths, the loader included). */
async function sharedLibraries(binary: string): Promise<string[]> {
  const ldd = await runTool("ldd", [binary]);
  if (ldd.code !== 0) return []; // not dynamic (a script, a static binary)
  return [...ldd.stdout.matchAll(/(\/\S+) \(0x/g)].map((m) => m[1] as string);
}

/** Copies `paths` (files or trees) into `root` at the same paths, with every library their ELF files load. */
async function copyWithLibraries(root: string, paths: string[], elfs: string[]): Promise<void> {
  const libs = new Set<string>();
  for (const elf of elfs) for (const lib of await sharedLibraries(elf)) libs.add(lib);
  for (const path of [...paths, ...libs]) {
    await mkdir(join(root, dirname(path)), { recursive: true });
    await cp(await realpath(path), join(root, path), { recursive: true });
  }
}

/** A root with Debian's static busybox as /bin/sh and friends, and /etc/passwd holding `users` (name → uid). */
async function busyboxRoot(root: string, users: Record<string, number>): Promise<void> {
  const busybox = await findBinary("busybox", ["/bin", "/usr/bin"], "apt-get install busybox-static");
  await mkdir(join(root, "bin"), { recursive: true });
  await cp(busybox, join(root, "bin/busybox"));
  for (const applet of APPLETS) await symlink("busybox", join(root, "bin", applet));
  await mkdir(join(root, "etc"), { recursive: true });
  await mkdir(join(root, "tmp"), { mode: 0o1777 });
  await chmod(join(root, "tmp"), 0o1777);
  const entries = Object.entries({ root: 0, ...users });
  await writeFile(
    join(root, "etc/passwd"),
    entries.map(([name, uid]) => `${name}:x:${uid}:${uid}::/:/bin/sh\n`).join(""),
  );
  await writeFile(join(root, "etc/group"), entries.map(([name, uid]) => `${name}:x:${uid}:\n`).join(""));
}

async function importRoot(engine: Dockerd, root: string, dir: string, tag: string, changes: string[]) {
  const tar = join(dir, "rootfs.tar");
  const packed = await runTool("tar", ["--numeric-owner", "-C", root, "-cf", tar, "."], {
    timeoutMs: 120_000,
  });
  if (packed.code !== 0) throw new Error(`tar of ${tag}'s root failed: ${packed.stderr}`);
  await engine.mustDocker(["import", ...changes.flatMap((c) => ["--change", c]), tar, tag], {
    timeoutMs: 120_000,
  });
}

/**
 * What the official redis image's entrypoint does that the program relies on: a server started without a
 * config file gets `--protected-mode no`. Without it Redis refuses every client from outside the container
 * (the default user has no password: the program's ACL file keeps it to PING), which the bots and workers
 * are: they met "connection reset" until this was added.
 */
const REDIS_ENTRYPOINT = `#!/bin/sh
set -e
if [ "$1" = redis-server ] && ! [ -f "$2" ]; then
  set -- "$@" --protected-mode no
fi
exec "$@"
`;

/** Tag of the Redis stand-in. */
export const REDIS_IMAGE = "tapbot-redis:lane";

/**
 * A stand-in for the official redis image (no registry here), in a second or two: this machine's Debian
 * redis-server and redis-cli with their libraries, busybox for the healthcheck's shell and grep, /data as
 * the working directory, `redis-server` as the command and the official entrypoint's protected-mode rule
 * ({@link REDIS_ENTRYPOINT}). Unlike it, the server runs as root (the official entrypoint drops to `redis`).
 */
export async function importRedisImage(engine: Dockerd, tag = REDIS_IMAGE): Promise<string> {
  const server = await realpath(
    await findBinary("redis-server", ["/usr/bin"], "apt-get install redis-server"),
  );
  const cli = await realpath(await findBinary("redis-cli", ["/usr/bin"], "apt-get install redis-tools"));
  const dir = await makeTempDir("redis-image");
  try {
    const root = join(dir, "root");
    await busyboxRoot(root, { redis: 999 });
    await copyWithLibraries(root, [], [server, cli]);
    await mkdir(join(root, "usr/local/bin"), { recursive: true });
    // Debian's redis-server is a link to redis-check-rdb, which acts by the name it is run as.
    await cp(server, join(root, "usr/local/bin/redis-server"));
    await cp(cli, join(root, "usr/local/bin/redis-cli"));
    await writeFile(join(root, "usr/local/bin/docker-entrypoint.sh"), REDIS_ENTRYPOINT, { mode: 0o755 });
    await mkdir(join(root, "data"));
    await importRoot(engine, root, dir, tag, [
      "ENV PATH=/usr/local/bin:/usr/bin:/bin",
      "WORKDIR /data",
      'ENTRYPOINT ["docker-entrypoint.sh"]',
      'CMD ["redis-server"]',
    ]);
    return tag;
  } finally {
    await removeTempDir(dir);
  }
}

/** Tag of the PostgreSQL stand-in. */
export const POSTGRES_IMAGE = "tapbot-postgres:lane";

/** The PostgreSQL major this machine has (Debian's postgresql-15) and the official image's data directory. */
const PG_MAJOR = 15;
const PGDATA = "/var/lib/postgresql/data";

/**
 * What the official postgres image's entrypoint does that the program relies on: on an empty data
 * directory, initdb with POSTGRES_USER as the superuser and the password from POSTGRES_PASSWORD_FILE,
 * password logins from the network, listening on all of the container's addresses, POSTGRES_DB created;
 * then the server runs as `postgres` (uid 999, util-linux's setpriv standing in for the official image's
 * gosu), with the command's settings.
 */
const POSTGRES_ENTRYPOINT = `#!/bin/sh
set -e
AS_POSTGRES="/usr/bin/setpriv --reuid=999 --regid=999 --clear-groups"
if [ "$1" = postgres ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -n "$POSTGRES_PASSWORD_FILE" ]; then cat "$POSTGRES_PASSWORD_FILE" > /tmp/pw; else printf '%s' "$POSTGRES_PASSWORD" > /tmp/pw; fi
    chown postgres /tmp/pw
    $AS_POSTGRES initdb -D "$PGDATA" -U "\${POSTGRES_USER:-postgres}" --pwfile=/tmp/pw -E UTF8 --locale=C --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f /tmp/pw
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
    db="\${POSTGRES_DB:-\${POSTGRES_USER:-postgres}}"
    if [ "$db" != postgres ]; then
      echo "CREATE DATABASE \\"$db\\";" | $AS_POSTGRES postgres --single -D "$PGDATA" postgres >/dev/null
    fi
  fi
  exec $AS_POSTGRES "$@"
fi
exec "$@"
`;

/**
 * A stand-in for the official postgres image, in a few seconds: this machine's Debian PostgreSQL 15
 * (server, initdb, psql, pg_isready, their libraries, share files and time zones), busybox, and an
 * entrypoint doing what the official one does for the program (see {@link POSTGRES_ENTRYPOINT}).
 */
export async function importPostgresImage(engine: Dockerd, tag = POSTGRES_IMAGE): Promise<string> {
  const home = `/usr/lib/postgresql/${PG_MAJOR}`;
  const bins = [
    ...["postgres", "initdb", "psql", "pg_isready", "pg_ctl"].map((b) => `${home}/bin/${b}`),
    "/usr/bin/setpriv",
  ];
  const dir = await makeTempDir("postgres-image");
  try {
    const root = join(dir, "root");
    await busyboxRoot(root, { postgres: 999 });
    const modules = (await runTool("find", [`${home}/lib`, "-name", "*.so"])).stdout
      .split("\n")
      .filter(Boolean);
    await copyWithLibraries(
      root,
      [...bins, `${home}/lib`, `/usr/share/postgresql/${PG_MAJOR}`, "/usr/share/zoneinfo"],
      [...bins, ...modules],
    );
    await mkdir(join(root, "usr/local/bin"), { recursive: true });
    await writeFile(join(root, "usr/local/bin/docker-entrypoint.sh"), POSTGRES_ENTRYPOINT, { mode: 0o755 });
    await importRoot(engine, root, dir, tag, [
      `ENV PATH=${home}/bin:/usr/local/bin:/usr/bin:/bin`,
      `ENV PGDATA=${PGDATA}`,
      'ENTRYPOINT ["docker-entrypoint.sh"]',
      'CMD ["postgres"]',
    ]);
    return tag;
  } finally {
    await removeTempDir(dir);
  }
}

/** Tag of the Caddy stand-in. */
export const CADDY_IMAGE = "tapbot-caddy:lane";

/**
 * A stand-in for the official caddy image (no registry here): Debian's caddy and the libraries it loads, its
 * data and config under /tmp. The tests run the program's own webhook route in it, in front of the bots, as
 * on the automation host, on plain HTTP (no domain, no certificate here).
 */
export async function importCaddyImage(engine: Dockerd, tag = CADDY_IMAGE): Promise<string> {
  const caddy = await findBinary("caddy", ["/usr/bin"], "apt-get install caddy");
  const dir = await makeTempDir("caddy-image");
  try {
    const root = join(dir, "root");
    await copyWithLibraries(root, [caddy], [caddy]);
    await mkdir(join(root, "etc/caddy"), { recursive: true });
    await mkdir(join(root, "tmp"), { mode: 0o1777 });
    await chmod(join(root, "tmp"), 0o1777);
    await importRoot(engine, root, dir, tag, [
      "ENV PATH=/usr/bin:/bin",
      "ENV XDG_DATA_HOME=/tmp XDG_CONFIG_HOME=/tmp",
      // The official image's command: the Caddyfile mounted at /etc/caddy/Caddyfile.
      'CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]',
    ]);
    return tag;
  } finally {
    await removeTempDir(dir);
  }
}
