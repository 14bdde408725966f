import { createHash, timingSafeEqual } from "node:crypto";
import bcrypt from "bcryptjs";

/** The user name and password of an `Authorization: Basic …` header. */
export interface BasicCredentials {
  user: string;
  password: string;
}

/** Reads `Authorization: Basic base64(user:password)`; undefined for anything else (absent, another scheme, no colon). */
export function parseBasicAuth(header: string | undefined): BasicCredentials | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header ?? "");
  if (match === null) return undefined;
  const decoded = Buffer.from(match[1] as string, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/**
 * The board's one login: a user name and a bcrypt hash of the password (from the stack's secret). Comparisons
 * take the same time whatever the input: the name through SHA-256 digests and `timingSafeEqual`, the password
 * by bcrypt, which runs even when the name is wrong, so a timing tells nothing about which part was.
 *
 * bcrypt costs a few hundred milliseconds of CPU on purpose, and the dashboard's page asks the API every few
 * seconds with the same header; so the digest of the last header that passed is kept, and a request with that
 * exact header is admitted by a constant-time digest comparison instead of a second bcrypt. Only a header that
 * passed bcrypt gets there; a new password (a new hash means a new process) starts empty.
 */
export class BasicAuthGate {
  private readonly userDigest: Buffer;
  private admittedHeader: Buffer | undefined;

  constructor(
    user: string,
    private readonly passwordHash: string,
  ) {
    this.userDigest = digest(user);
  }

  /** Whether the request's `Authorization` header carries the board's user and password. */
  async admits(header: string | undefined): Promise<boolean> {
    if (header === undefined) return false;
    const headerDigest = digest(header);
    if (this.admittedHeader !== undefined && timingSafeEqual(headerDigest, this.admittedHeader)) return true;
    const credentials = parseBasicAuth(header);
    if (credentials === undefined) return false;
    const userMatches = timingSafeEqual(digest(credentials.user), this.userDigest);
    const passwordMatches = await bcrypt.compare(credentials.password, this.passwordHash);
    if (!(userMatches && passwordMatches)) return false;
    this.admittedHeader = headerDigest;
    return true;
  }
}
