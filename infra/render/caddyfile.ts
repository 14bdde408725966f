import { parseAllowEntry } from "../admin-allow-ips.js";

/**
 * Who a site answers. Every site says so explicitly: an admin UI is `owner` (only the addresses of
 * `tapbot:adminAllowIps`, plus the paths that must be public, such as n8n's production webhooks);
 * `public` is for endpoints that authenticate every request themselves (the bot's webhook checks
 * Telegram's secret token).
 */
export type SiteAccess =
  | { kind: "public" }
  | {
      kind: "owner";
      /** Addresses or CIDRs (IPv4/IPv6) whose requests are proxied. */
      allowIps: readonly string[];
      /** Caddy path patterns (`/webhook/*`) proxied for anyone. @defaultValue none */
      publicPaths?: readonly string[];
    };

/** One site behind the reverse proxy. */
export interface CaddySite {
  domain: string;
  /** host:port Caddy forwards to (a container name on the proxy's network, or a tunnel address). */
  upstream: string;
  access: SiteAccess;
}

/** Inputs of the Caddyfile. */
export interface CaddyOptions {
  /** ACME account e-mail (Let's Encrypt expiry notices). */
  acmeEmail: string;
  sites: CaddySite[];
}

const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const PATH_PATTERN = /^\/[A-Za-z0-9._~/-]*\*?$/;

/**
 * The lines that turn strangers away from an owner-only site. `remote_ip` matches the TCP peer, never a
 * client-supplied X-Forwarded-For, so the allowlist cannot be talked around; Docker's port publishing keeps
 * the client's IPv4 source address. A stranger gets a bare 403 before anything is proxied, whatever the
 * path (n8n's owner setup, Directus's login and API included), except the declared public paths.
 */
function strangerLines(site: CaddySite): string[] {
  if (site.access.kind === "public") return [];
  const { allowIps, publicPaths = [] } = site.access;
  if (allowIps.length === 0) throw new Error(`${site.domain}: an owner-only site needs at least one address`);
  for (const ip of allowIps) {
    const parsed = parseAllowEntry(ip);
    if (typeof parsed === "string") throw new Error(`${site.domain}: ${parsed}`);
  }
  for (const path of publicPaths) {
    if (!PATH_PATTERN.test(path))
      throw new Error(`${site.domain}: public path must look like /webhook/*; got ${path}`);
  }
  return [
    "\t@stranger {",
    `\t\tnot remote_ip ${allowIps.join(" ")}`,
    ...(publicPaths.length === 0 ? [] : [`\t\tnot path ${publicPaths.join(" ")}`]),
    "\t}",
    '\trespond @stranger "Forbidden" 403',
  ];
}

/**
 * The Caddyfile: one block per domain. Automatic HTTPS (certificates from Let's Encrypt, HTTP→HTTPS
 * redirect) is Caddy's default for a named domain, so no TLS directive is needed; HSTS keeps browsers on
 * HTTPS. Invariant: an owner-only site proxies nothing for an address outside its allowlist.
 */
export function renderCaddyfile(options: CaddyOptions): string {
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(options.acmeEmail)) {
    throw new Error(`acmeEmail must be an e-mail address; got ${options.acmeEmail}`);
  }
  const blocks = options.sites.map((site) => {
    if (!DOMAIN.test(site.domain)) throw new Error(`site domain must be a DNS name; got ${site.domain}`);
    if (!/^[a-z0-9.-]+:[0-9]{1,5}$/.test(site.upstream)) {
      throw new Error(`site upstream must be host:port; got ${site.upstream}`);
    }
    return [
      `${site.domain} {`,
      ...strangerLines(site),
      '\theader Strict-Transport-Security "max-age=31536000"',
      "\tencode zstd gzip",
      `\treverse_proxy ${site.upstream}`,
      "}",
      "",
    ].join("\n");
  });
  return `# Managed by tapbot infra (Pulumi).
{
\temail ${options.acmeEmail}
}

${blocks.join("\n")}`;
}
