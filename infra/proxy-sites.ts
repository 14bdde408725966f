import type { PlainConfig } from "./config.js";
import type { CaddySite } from "./render/caddyfile.js";

/** n8n's production webhooks (active workflows' triggers), the only n8n path a stranger may reach, if opted in. */
export const N8N_WEBHOOK_PATHS = ["/webhook/*"] as const;

/** Where Caddy forwards each site (container names in production, loopback servers in tests). */
export interface ProxyUpstreams {
  n8n: string;
  directus: string;
  grafana: string;
  /** The queue dashboard (Bull Board). */
  board: string;
}

/**
 * The sites Caddy serves and who each answers: n8n, Directus, Grafana and the queue dashboard are admin UIs, so only the addresses of
 * `tapbot:adminAllowIps` reach them; with `tapbot:n8nPublicWebhooks`, n8n's production webhook paths are
 * open to anyone as well (each belongs to a workflow the owner activated). Pure, so a test renders
 * exactly the production access rules in front of its own upstreams.
 */
export function proxySites(
  config: Pick<
    PlainConfig,
    "n8nDomain" | "directusDomain" | "grafanaDomain" | "boardDomain" | "adminAllowIps" | "n8nPublicWebhooks"
  >,
  upstreams: ProxyUpstreams,
): CaddySite[] {
  const owner = { kind: "owner", allowIps: config.adminAllowIps } as const;
  return [
    {
      domain: config.n8nDomain,
      upstream: upstreams.n8n,
      access: config.n8nPublicWebhooks ? { ...owner, publicPaths: N8N_WEBHOOK_PATHS } : owner,
    },
    { domain: config.directusDomain, upstream: upstreams.directus, access: owner },
    { domain: config.grafanaDomain, upstream: upstreams.grafana, access: owner },
    { domain: config.boardDomain, upstream: upstreams.board, access: owner },
  ];
}
