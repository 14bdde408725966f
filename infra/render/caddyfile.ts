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

/** The bot's public webhooks: only POSTs to `paths` reach the replicas; everything else gets 404. */
export interface WebhookSite {
  domain: string;
  /** The webhook paths: Telegram's (WEBHOOK_URL's path) and fal's (FAL_WEBHOOK_URL's). */
  paths: string[];
  /** host:port of every bot replica. */
  upstreams: string[];
}

/** Inputs of the Caddyfile. */
export interface CaddyOptions {
  /** ACME account e-mail (Let's Encrypt expiry notices). */
  acmeEmail: string;
  sites: CaddySite[];
  /** The bot's webhook site, when the bot runs in webhook mode. */
  webhook?: WebhookSite;
}

/**
 * How often the proxy asks each bot replica's /healthz. A stopping replica says "draining" there and keeps
 * serving for the app's drain delay (3 s, app/bot/bot-process.ts) before it stops accepting, so this
 * interval plus the check's timeout must stay well under that delay.
 */
export const BOT_HEALTH_INTERVAL_SECONDS = 1;

const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const PATH_PATTERN = /^\/[A-Za-z0-9._~/-]*\*?$/;

function checkDomain(domain: string): void {
  if (!DOMAIN.test(domain)) throw new Error(`site domain must be a DNS name; got ${domain}`);
}

function checkUpstream(upstream: string): void {
  // Docker names (a Swarm stack's services are <stack>_<service>) may hold an underscore.
  if (!/^[a-z0-9._-]+:[0-9]{1,5}$/.test(upstream)) {
    throw new Error(`site upstream must be host:port; got ${upstream}`);
  }
}

/**
 * The route of the bot's webhooks, inside a site block: Telegram's and fal's POSTs to their paths are
 * load-balanced over the bot replicas; anything else is 404. Zero-downtime replacement of one replica rests on:
 * - active health checks on /healthz every {@link BOT_HEALTH_INTERVAL_SECONDS} s: a stopping replica says
 *   "draining" (503) while it still serves, so it leaves the rotation before it stops accepting;
 * - retries on the other replica for up to 15 s: a dial that fails (the stopping replica no longer
 *   accepts, or it is being replaced) always moves on, and `lb_retry_match` allows it for a POST whose
 *   connection broke mid-way too (safe: the bot handles each update once, see app/bot/update-log.ts);
 * - passive checks: a 503 takes a replica out for 10 s; such an answer (all replicas unhealthy, e.g.
 *   PostgreSQL down) goes back to Telegram, which keeps the update and delivers it again.
 * Exported for the proxy test, which runs it in front of real bot processes.
 */
export function renderWebhookRoute(webhook: Omit<WebhookSite, "domain">): string {
  if (webhook.paths.length === 0) throw new Error("the webhook route needs at least one path");
  for (const path of webhook.paths) {
    if (!/^\/[A-Za-z0-9/_-]*$/.test(path)) throw new Error(`webhook path must be a URL path; got ${path}`);
  }
  if (webhook.upstreams.length === 0) throw new Error("the webhook needs at least one bot upstream");
  for (const upstream of webhook.upstreams) checkUpstream(upstream);
  return `\t@webhook {
\t\tmethod POST
\t\tpath ${webhook.paths.join(" ")}
\t}
\thandle @webhook {
\t\treverse_proxy ${webhook.upstreams.join(" ")} {
\t\t\tlb_policy round_robin
\t\t\tlb_try_duration 15s
\t\t\tlb_try_interval 250ms
\t\t\tlb_retry_match {
\t\t\t\tmethod POST
\t\t\t}
\t\t\thealth_uri /healthz
\t\t\thealth_interval ${BOT_HEALTH_INTERVAL_SECONDS}s
\t\t\thealth_timeout 1s
\t\t\tfail_duration 10s
\t\t\tunhealthy_status 503
\t\t}
\t}
\thandle {
\t\trespond 404
\t}
`;
}

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
    checkDomain(site.domain);
    checkUpstream(site.upstream);
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
  if (options.webhook !== undefined) {
    checkDomain(options.webhook.domain);
    blocks.push(
      `${options.webhook.domain} {\n\theader Strict-Transport-Security "max-age=31536000"\n${renderWebhookRoute(options.webhook)}}\n`,
    );
  }
  return `# Managed by tapbot infra (Pulumi).
{
\temail ${options.acmeEmail}
}

${blocks.join("\n")}`;
}
