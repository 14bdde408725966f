#!/usr/bin/env node
/**
 * Completes package-lock.json with the platform-specific optional packages that npm could not resolve.
 *
 * Why: the registry this team's machines and CI reach holds only the linux-x64 builds of native packages
 * (esbuild, rollup, Biome, msgpackr-extract, …). `npm install` then leaves the other platforms' optional
 * packages out of the lock, and `npm ci` refuses such a lock ("Missing: @rollup/rollup-darwin-arm64@ from lock
 * file"), here and on the owner's machine alike. This script adds each missing one as the lock would list it
 * from the full registry: exact version (from its parent's optionalDependencies), `optional`, and the
 * `os`/`cpu`/`libc` its name encodes, so npm skips it on other platforms and fetches it on its own.
 *
 * Run after changing dependencies: `npm install && node .ci/complete-lockfile.mjs`. It is idempotent and
 * stops with an error when a missing package is not an optional platform build.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";

const LOCK = "package-lock.json";
const OS = [
  "aix",
  "android",
  "darwin",
  "freebsd",
  "linux",
  "netbsd",
  "openbsd",
  "openharmony",
  "sunos",
  "win32",
];
const CPU = ["arm64", "arm", "ia32", "loong64", "mips64el", "ppc64", "riscv64", "s390x", "x64", "wasm32"];

/** The packages `npm ci` reports missing from the lock (a dry run: it installs nothing). */
function missingFromLock() {
  try {
    execFileSync("npm", ["ci", "--dry-run", "--ignore-scripts", "--no-audit", "--no-fund"], {
      stdio: ["ignore", "pipe", "pipe"],
      encoding: "utf8",
    });
    return [];
  } catch (error) {
    const text = `${error.stdout ?? ""}${error.stderr ?? ""}`;
    const names = [...text.matchAll(/Missing: (@?[^@\s]+)@\S* from lock file/g)].map((m) => m[1]);
    if (names.length === 0) throw new Error(`npm ci --dry-run failed for another reason:\n${text}`);
    return [...new Set(names)];
  }
}

/** os / cpu / libc from a platform package's name, e.g. rollup-linux-x64-musl → linux, x64, musl. */
function platformOf(name) {
  const parts = name.split("/").pop().split("-");
  const os = parts.find((p) => OS.includes(p));
  const cpu = parts.find((p) => CPU.includes(p)) ?? (parts.includes("wasi") ? "wasm32" : undefined);
  const libc = parts.includes("musl")
    ? "musl"
    : parts.includes("gnu") || parts.some((p) => p.startsWith("gnueabi"))
      ? "glibc"
      : undefined;
  return { os, cpu, libc };
}

/**
 * The version the lock's packages ask for `name` in their optionalDependencies, and whether only development
 * dependencies need it (so `npm ci --omit=dev`, as in the app's image, leaves it out like its parent).
 */
function requested(lock, name) {
  for (const [path, entry] of Object.entries(lock.packages)) {
    const spec = entry.optionalDependencies?.[name];
    if (spec !== undefined) {
      if (!/^\d+\.\d+\.\d+(-[\w.]+)?$/.test(spec)) {
        throw new Error(`${path || "the root"} asks for ${name}@${spec}: not an exact version`);
      }
      return { version: spec, dev: entry.dev === true };
    }
  }
  throw new Error(`${name} is missing from the lock but no package lists it as optional`);
}

const lock = JSON.parse(readFileSync(LOCK, "utf8"));
let added = 0;
for (let round = 0; round < 5; round++) {
  const missing = missingFromLock();
  if (missing.length === 0) break;
  for (const name of missing) {
    const { os, cpu, libc } = platformOf(name);
    if (os === undefined && cpu === undefined)
      throw new Error(`${name}: not a platform build; resolve it by hand`);
    const { version, dev } = requested(lock, name);
    lock.packages[`node_modules/${name}`] = {
      version,
      ...(cpu === undefined ? {} : { cpu: [cpu] }),
      ...(dev ? { dev: true } : {}),
      ...(libc === undefined ? {} : { libc: [libc] }),
      optional: true,
      ...(os === undefined ? {} : { os: [os] }),
    };
    added++;
  }
  lock.packages = Object.fromEntries(
    Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a.localeCompare(b))),
  );
  writeFileSync(LOCK, `${JSON.stringify(lock, null, 2)}\n`);
}
const left = missingFromLock();
if (left.length > 0) throw new Error(`still missing from the lock: ${left.join(", ")}`);
console.log(`package-lock.json complete (${added} platform packages added)`);
