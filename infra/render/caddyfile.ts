/** One site behind the reverse proxy. */
export interface CaddySite {
  domain: string;
  /** host:port Caddy forwards to (a container name on the proxy's network, or a tunnel address). */
  upstream: string;
}

/** Inputs of the Caddyfile. */
export interface CaddyOptions {
  /** ACME account e-mail (Let's Encrypt expiry notices). */
  acmeEmail: string;
  sites: CaddySite[];
}

const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

/**
 * The Caddyfile: one block per domain, automatic HTTPS (certificates from Let's Encrypt, HTTP→HTTPS
 * redirect) is Caddy's default for a named domain, so no TLS directive is needed.
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
    return `${site.domain} {
\tencode zstd gzip
\treverse_proxy ${site.upstream}
}
`;
  });
  return `# Managed by tapbot infra (Pulumi).
{
\temail ${options.acmeEmail}
}

${blocks.join("\n")}`;
}
