import { stringify } from "yaml";
import { DATASOURCE_UID } from "./grafana-dashboards.js";

/** Where the provisioned dashboards' JSON files live inside the Grafana container. */
export const GRAFANA_DASHBOARD_DIR = "/var/lib/grafana/dashboards/tapbot";

/**
 * Grafana's data source provisioning file: the one Prometheus, as the default, under a fixed uid that the
 * dashboards name, not editable from the UI (the program owns it). Pure.
 */
export function renderGrafanaDatasource(prometheusUrl: string): string {
  if (!/^http:\/\/[a-z0-9.-]+:[0-9]{1,5}$/.test(prometheusUrl)) {
    throw new Error(`prometheusUrl must be http://host:port; got ${prometheusUrl}`);
  }
  return stringify({
    apiVersion: 1,
    datasources: [
      {
        name: "Prometheus",
        uid: DATASOURCE_UID,
        type: "prometheus",
        access: "proxy",
        url: prometheusUrl,
        isDefault: true,
        editable: false,
        jsonData: { timeInterval: "15s" },
      },
    ],
  });
}

/** Grafana's dashboard provider: every JSON file of {@link GRAFANA_DASHBOARD_DIR} in the folder "tapbot". */
export function renderGrafanaDashboardProvider(): string {
  return stringify({
    apiVersion: 1,
    providers: [
      {
        name: "tapbot",
        folder: "tapbot",
        type: "file",
        disableDeletion: true,
        allowUiUpdates: false,
        updateIntervalSeconds: 60,
        options: { path: GRAFANA_DASHBOARD_DIR },
      },
    ],
  });
}
