import { readFileSync } from "node:fs";
import bcrypt from "bcryptjs";

/** The least password length accepted: the board is an admin UI, behind the allowlist but still on the internet. */
const MIN_LENGTH = 12;

/** bcrypt's cost: about a quarter of a second per check in bcryptjs, paid once per login (see basic-auth.ts). */
const COST = 12;

/**
 * `npm run --silent board:hash-password`: reads the queue dashboard's password from stdin (so it stays out of
 * the shell's history and the process list) and prints its bcrypt hash, the value of the stack secret
 * `tapbot:boardPasswordHash` (infra/README.md gives the whole command).
 */
const password = readFileSync(0, "utf8").replace(/\r?\n$/, "");
if (password.length < MIN_LENGTH) {
  process.stderr.write(`the password must be at least ${MIN_LENGTH} characters; got ${password.length}\n`);
  process.exit(2);
}
process.stdout.write(`${bcrypt.hashSync(password, COST)}\n`);
