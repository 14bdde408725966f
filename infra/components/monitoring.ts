import type * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import type { Plan, ServicePlan } from "../../capacity/index.js";
import { backedUpStores } from "../backup-plan.js";
import { usesSwarm } from "../cluster-hosts.js";
import type { InfraConfig } from "../config.js";
import type { HostRole } from "../host-scripts.js";
import { alertRulesInput } from "../monitoring-plan.js";
import { MONITORING_PORTS, relayPlacements, scrapeJobs, tunnelAddress } from "../monitoring-targets.js";
import {
  extraHostAgents,
  type HostAgent,
  hostPlan,
  METRICS_RELAY,
  type ServiceName,
  servicePlan,
} from "../plan-services.js";
import { renderAlertRules } from "../render/alert-rules.js";
import { renderAlertmanagerConfig } from "../render/alertmanager-config.js";
import { grafanaDashboards } from "../render/grafana-dashboards.js";
import {
  GRAFANA_DASHBOARD_DIR,
  renderGrafanaDashboardProvider,
  renderGrafanaDatasource,
} from "../render/grafana-provisioning.js";
import { renderMetricsRelayConfig } from "../render/metrics-relay-config.js";
import { EXPORTER_DB_ROLE, exporterDbPassword } from "../render/postgres-exporter-role.js";
import { renderPrometheusConfig } from "../render/prometheus-config.js";
import { REDIS_USERS, redisExporterPassword } from "../render/redis-acl.js";
import { IMAGE_UIDS, secretFile } from "../secret-file.js";
import { APP_HTTP_PORT } from "./app.js";
import { hostDockerResources } from "./host-docker-resources.js";
import { serviceContainer } from "./service-container.js";

/** Inputs of {@link Monitoring}. */
export interface MonitoringArgs {
  config: InfraConfig;
  plan: Plan;
  providers: Record<HostRole, docker.Provider>;
  /** The Docker networks of each host's services (the exporters join them to reach Redis and PostgreSQL). */
  networks: Record<HostRole, pulumi.Input<string>>;
  /** The data host's hardening and tunnel end, and its PostgreSQL (the exporter's database). */
  dataDependsOn: pulumi.Input<pulumi.Resource>[];
  /** The automation host's hardening and tunnel end, and its Redis. */
  automationDependsOn: pulumi.Input<pulumi.Resource>[];
  /**
   * With more than two hosts: each extra host whose plan has agents (`node-exporter-<host>`, `cadvisor-<host>`),
   * its Docker and its tunnel end (the agents listen on its tunnel address).
   */
  extraHosts?: {
    name: string;
    tunnelAddress: string;
    provider: docker.Provider;
    dependsOn: pulumi.Input<pulumi.Resource>[];
  }[];
}

/** Inside the Prometheus and Alertmanager containers, where the rendered files go. */
const PROMETHEUS_DIR = "/etc/prometheus";
const ALERTMANAGER_FILE = "/etc/alertmanager/alertmanager.yml";
/** How often Prometheus (and the metrics relay) scrapes and evaluates. */
const SCRAPE_INTERVAL_SECONDS = 15;

/** busybox's wget in the Prometheus-project images, and the health URL each serves. */
function httpHealth(url: string): string[] {
  return ["CMD-SHELL", `wget -q -O /dev/null ${url} || exit 1`];
}

/**
 * The monitoring stack, sized by the plan and watching what the plan assumes: Prometheus with the alert rules
 * rendered from the plan and its retention sized to the disk by the plan, Alertmanager sending to the owner's
 * Telegram chat, Grafana with its data source and dashboards provisioned, node-exporter and cAdvisor on every
 * host, the Redis and PostgreSQL exporters. Invariant: nothing of it listens on a public address. Prometheus,
 * Alertmanager and the PostgreSQL exporter answer on the data host's loopback; Grafana and the host agents on
 * the tunnel addresses (UFW lets only the peer in, on wg0); the Redis exporter publishes on the automation
 * host's tunnel address. The owner reaches Grafana through Caddy (allowlist) only.
 */
export class Monitoring extends pulumi.ComponentResource {
  readonly prometheus: docker.Container;
  readonly alertmanager: docker.Container;
  readonly grafana: docker.Container;
  /** node-exporter and cAdvisor of each host, the Redis and PostgreSQL exporters. */
  readonly exporters: docker.Container[];
  /** The rendered rule file (plain text: it holds no secret), for the stack outputs and the tests. */
  readonly alertRules: string;
  /**
   * With more than two hosts: the Prometheus on the Swarm's overlay that scrapes the bot's and the workers'
   * tasks and serves them to the data host's Prometheus at /federate (published on the automation host's tunnel
   * address only). Undefined with two hosts, where Prometheus scrapes each process's published port itself.
   */
  readonly metricsRelay: docker.Container | undefined;

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tapbot:infra:Monitoring", name, {}, opts);
    const { config, plan, providers } = args;
    const secrets = config.secrets;
    const dependsOn: Record<HostRole, pulumi.Input<pulumi.Resource>[]> = {
      automation: args.automationDependsOn,
      data: args.dataDependsOn,
    };
    const on = (role: HostRole) => ({ parent: this, provider: providers[role] });
    const resources = {
      automation: hostDockerResources(`${name}-automation`, on("automation"), dependsOn.automation),
      data: hostDockerResources(`${name}-data`, on("data"), dependsOn.data),
    };
    const container = (
      role: HostRole,
      service: ServiceName,
      image: string,
      rest: Omit<Parameters<typeof serviceContainer>[1], "containerName" | "image" | "plan">,
    ) =>
      serviceContainer(
        `${name}-${service}`,
        {
          containerName: `tapbot-${service}`,
          image: resources[role].image(service, image).imageId,
          plan: servicePlan(plan, service),
          ...rest,
        },
        { ...on(role), dependsOn: dependsOn[role] },
      );

    /** node-exporter and cAdvisor of one host, in the host's network, listening on its tunnel address only. */
    const agents = (
      host: string,
      address: string,
      place: {
        on: pulumi.CustomResourceOptions;
        image: (key: string, ref: string) => docker.RemoteImage;
        dependsOn: pulumi.Input<pulumi.Resource>[];
      },
      planOf: (agent: HostAgent) => ServicePlan | undefined,
    ): docker.Container[] => {
      const agent = (
        kind: HostAgent,
        image: string,
        rest: Omit<Parameters<typeof serviceContainer>[1], "containerName" | "image" | "plan">,
      ) => {
        const sized = planOf(kind);
        if (sized === undefined) return [];
        const service = `${kind}-${host}`;
        return [
          serviceContainer(
            `${name}-${service}`,
            {
              containerName: `tapbot-${service}`,
              image: place.image(service, image).imageId,
              plan: sized,
              ...rest,
            },
            { ...place.on, dependsOn: place.dependsOn },
          ),
        ];
      };
      return [
        ...agent("node-exporter", config.nodeExporterImage, {
          network: "host",
          pidMode: "host",
          command: [
            "--path.rootfs=/host",
            `--web.listen-address=${address}:${MONITORING_PORTS.nodeExporter}`,
            "--collector.textfile.directory=/host/var/lib/node_exporter/textfile_collector",
          ],
          volumes: [{ hostPath: "/", containerPath: "/host", readOnly: true }],
          healthcheck: httpHealth(`http://${address}:${MONITORING_PORTS.nodeExporter}/metrics`),
        }),
        ...agent("cadvisor", config.cadvisorImage, {
          network: "host",
          privileged: true,
          command: [
            `--listen_ip=${address}`,
            `--port=${MONITORING_PORTS.cadvisor}`,
            "--docker_only=true",
            "--housekeeping_interval=30s",
            "--store_container_labels=false",
            "--disable_metrics=percpu,sched,tcp,udp,disk,diskIO,hugetlb,referenced_memory,cpu_topology,resctrl,process,advtcp",
          ],
          volumes: [
            { hostPath: "/", containerPath: "/rootfs", readOnly: true },
            { hostPath: "/var/run", containerPath: "/var/run", readOnly: true },
            { hostPath: "/sys", containerPath: "/sys", readOnly: true },
            { hostPath: "/var/lib/docker", containerPath: "/var/lib/docker", readOnly: true },
          ],
          healthcheck: httpHealth(`http://${address}:${MONITORING_PORTS.cadvisor}/healthz`),
        }),
      ];
    };

    this.exporters = [
      ...(["automation", "data"] as const).flatMap((role) =>
        agents(
          role,
          tunnelAddress(config, role),
          { on: on(role), image: resources[role].image, dependsOn: dependsOn[role] },
          (kind) => servicePlan(plan, `${kind}-${role}`),
        ),
      ),
      ...(args.extraHosts ?? []).flatMap((host) => {
        const place = { parent: this, provider: host.provider };
        return agents(
          host.name,
          host.tunnelAddress,
          {
            on: place,
            image: hostDockerResources(`${name}-${host.name}`, place, host.dependsOn).image,
            dependsOn: host.dependsOn,
          },
          (kind) => extraHostAgents(plan, host.name).find((a) => a.agent === kind)?.plan,
        );
      }),
    ];
    this.exporters.push(
      container("automation", "redis-exporter", config.redisExporterImage, {
        network: args.networks.automation,
        // Its own read-only Redis user (render/redis-acl.ts), not the app's.
        envs: [
          "REDIS_ADDR=redis://redis:6379",
          `REDIS_USER=${REDIS_USERS.exporter}`,
          pulumi.secret(
            secrets.redisPassword.apply((password) => `REDIS_PASSWORD=${redisExporterPassword(password)}`),
          ),
        ],
        ports: [
          {
            internal: 9121,
            external: MONITORING_PORTS.redisExporter,
            ip: config.automationTunnelAddress,
          },
        ],
        healthcheck: httpHealth("http://127.0.0.1:9121/health"),
      }),
      container("data", "postgres-exporter", config.postgresExporterImage, {
        network: args.networks.data,
        envs: [
          // Its own role with pg_monitor only (render/postgres-exporter-role.ts), never the superuser.
          pulumi.interpolate`DATA_SOURCE_NAME=postgresql://${EXPORTER_DB_ROLE}:${secrets.postgresPassword.apply(exporterDbPassword)}@postgres:5432/tapbot?sslmode=disable`,
        ],
        ports: [{ internal: 9187, external: MONITORING_PORTS.postgresExporter, ip: "127.0.0.1" }],
        healthcheck: httpHealth("http://127.0.0.1:9187/metrics"),
      }),
    );

    this.metricsRelay = usesSwarm(plan)
      ? this.relay(name, args, resources.automation, dependsOn.automation)
      : undefined;

    this.alertRules = renderAlertRules(alertRulesInput(plan, undefined, backedUpStores(config)));
    const prometheusConfig = renderPrometheusConfig({
      scrapeIntervalSeconds: SCRAPE_INTERVAL_SECONDS,
      evaluationIntervalSeconds: SCRAPE_INTERVAL_SECONDS,
      alertmanager: `127.0.0.1:${MONITORING_PORTS.alertmanager}`,
      ruleFiles: [`${PROMETHEUS_DIR}/tapbot.rules.yml`],
      jobs: scrapeJobs(config, plan),
    });
    const retention = plan.prometheus;
    if (retention === null || retention.host !== "data") {
      throw new Error("the plan must place prometheus on the data host (its retention is sized there)");
    }
    const local = (port: number) => `127.0.0.1:${port}`;
    const data = resources.data;
    this.prometheus = container("data", "prometheus", config.prometheusImage, {
      network: "host",
      command: [
        `--config.file=${PROMETHEUS_DIR}/prometheus.yml`,
        "--storage.tsdb.path=/prometheus",
        `--storage.tsdb.retention.size=${Math.floor(retention.retentionGB * 1024)}MB`,
        "--storage.tsdb.retention.time=90d",
        `--web.listen-address=${local(MONITORING_PORTS.prometheus)}`,
      ],
      uploads: [
        { file: `${PROMETHEUS_DIR}/prometheus.yml`, content: prometheusConfig },
        { file: `${PROMETHEUS_DIR}/tapbot.rules.yml`, content: this.alertRules },
      ],
      volumes: [{ volumeName: data.volume("prometheus").name, containerPath: "/prometheus" }],
      healthcheck: httpHealth(`http://${local(MONITORING_PORTS.prometheus)}/-/ready`),
    });

    this.alertmanager = container("data", "alertmanager", config.alertmanagerImage, {
      network: "host",
      command: [
        `--config.file=${ALERTMANAGER_FILE}`,
        "--storage.path=/alertmanager",
        `--web.listen-address=${local(MONITORING_PORTS.alertmanager)}`,
        "--cluster.listen-address=",
      ],
      uploads: [
        {
          file: ALERTMANAGER_FILE,
          content: pulumi.secret(
            secrets.alertTelegramBotToken.apply((botToken) =>
              renderAlertmanagerConfig({ telegram: { botToken, chatId: config.alertTelegramChatId } }),
            ),
          ),
        },
      ],
      volumes: [{ volumeName: data.volume("alertmanager").name, containerPath: "/alertmanager" }],
      healthcheck: httpHealth(`http://${local(MONITORING_PORTS.alertmanager)}/-/ready`),
    });

    const th = plan.thresholds;
    const dashboards = grafanaDashboards({
      ram: th.ram,
      cpu: th.cpu,
      disk: th.disk,
      queueLength: th.queueLength,
      falWaitTargetSeconds: plan.targetWaitP95Seconds,
    });
    const grafanaAddress = config.dataTunnelAddress;
    // As a file (Grafana reads NAME__FILE), out of `docker inspect`.
    const grafanaPassword = secretFile(
      "GF_SECURITY_ADMIN_PASSWORD",
      secrets.grafanaAdminPassword,
      IMAGE_UIDS.grafana,
      "GF_SECURITY_ADMIN_PASSWORD__FILE",
    );
    this.grafana = container("data", "grafana", config.grafanaImage, {
      network: "host",
      envs: [
        `GF_SERVER_HTTP_ADDR=${grafanaAddress}`,
        `GF_SERVER_HTTP_PORT=${MONITORING_PORTS.grafana}`,
        `GF_SERVER_ROOT_URL=https://${config.grafanaDomain}/`,
        "GF_SECURITY_ADMIN_USER=admin",
        grafanaPassword.env,
        "GF_SECURITY_COOKIE_SECURE=true",
        "GF_SECURITY_DISABLE_GRAVATAR=true",
        "GF_USERS_ALLOW_SIGN_UP=false",
        "GF_AUTH_ANONYMOUS_ENABLED=false",
        "GF_ANALYTICS_REPORTING_ENABLED=false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES=false",
        `GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH=${GRAFANA_DASHBOARD_DIR}/tapbot-overview.json`,
      ],
      uploads: [
        grafanaPassword.upload,
        {
          file: "/etc/grafana/provisioning/datasources/tapbot.yml",
          content: renderGrafanaDatasource(`http://${local(MONITORING_PORTS.prometheus)}`),
        },
        {
          file: "/etc/grafana/provisioning/dashboards/tapbot.yml",
          content: renderGrafanaDashboardProvider(),
        },
        ...dashboards.map((d) => ({
          file: `${GRAFANA_DASHBOARD_DIR}/${d.uid}.json`,
          content: JSON.stringify(d, null, 2),
        })),
      ],
      volumes: [{ volumeName: data.volume("grafana").name, containerPath: "/var/lib/grafana" }],
      healthcheck: httpHealth(`http://${grafanaAddress}:${MONITORING_PORTS.grafana}/api/health`),
    });
    this.registerOutputs({});
  }

  /**
   * The metrics relay: Prometheus's own image (the central one's pin) as a plain container on the attachable
   * overlay, where Docker's DNS answers `tasks.tapbot_<service>-<host>` with every running task's address. It
   * keeps an hour of data (the central Prometheus federates every scrape interval, so it needs minutes), no
   * rules and no Alertmanager. Its port is published on the automation host's tunnel address only, like the
   * Redis exporter's: DOCKER-USER lets new connections to it in from wg0 only.
   */
  private relay(
    name: string,
    args: MonitoringArgs,
    resources: ReturnType<typeof hostDockerResources>,
    dependsOn: pulumi.Input<pulumi.Resource>[],
  ): docker.Container {
    const { config, plan } = args;
    const sized = hostPlan(plan, "automation").services.find((s) => s.name === METRICS_RELAY);
    if (sized === undefined) throw new Error(`the plan has no "${METRICS_RELAY}" on the automation host`);
    const port = 9090;
    return serviceContainer(
      `${name}-${METRICS_RELAY}`,
      {
        containerName: `tapbot-${METRICS_RELAY}`,
        image: resources.image(METRICS_RELAY, config.prometheusImage).imageId,
        plan: sized,
        network: args.networks.automation,
        command: [
          `--config.file=${PROMETHEUS_DIR}/prometheus.yml`,
          "--storage.tsdb.path=/prometheus",
          "--storage.tsdb.retention.time=1h",
          `--web.listen-address=:${port}`,
        ],
        uploads: [
          {
            file: `${PROMETHEUS_DIR}/prometheus.yml`,
            content: renderMetricsRelayConfig({
              scrapeIntervalSeconds: SCRAPE_INTERVAL_SECONDS,
              taskPort: APP_HTTP_PORT,
              placements: relayPlacements(plan),
            }),
          },
        ],
        ports: [
          { internal: port, external: MONITORING_PORTS.metricsRelay, ip: config.automationTunnelAddress },
        ],
        healthcheck: httpHealth(`http://127.0.0.1:${port}/-/ready`),
      },
      { parent: this, provider: args.providers.automation, dependsOn },
    );
  }
}
