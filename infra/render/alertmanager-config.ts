import { stringify } from "yaml";

/** Where alerts go: a Telegram chat, through a bot. */
export interface TelegramReceiver {
  /** The bot that sends the alerts (secret). The owner must have opened a chat with it (/start). */
  botToken: string;
  /** The owner's chat id (a private chat's id is the user's id; a group's is negative). */
  chatId: number;
  /** The Bot API root; Telegram's own unless a test points it at a fake. */
  apiUrl?: string;
}

/** Inputs of alertmanager.yml. */
export interface AlertmanagerConfigOptions {
  telegram: TelegramReceiver;
  /** How long to gather alerts of a group before the first message. @defaultValue "30s" */
  groupWait?: string;
  /** How often a still-firing warning is repeated. @defaultValue "12h" */
  warningRepeat?: string;
  /** How often a still-firing critical alert is repeated. @defaultValue "1h" */
  criticalRepeat?: string;
}

const DURATION = /^[1-9][0-9]*(ms|s|m|h|d)$/;

/**
 * The Telegram message: one block per alert with its state, name, severity, summary and what to do. Every
 * value passes through text/template's `html` escaping: the Bot API refuses a message whose HTML does not
 * parse, and an annotation may hold `<url>` or `&`.
 */
const MESSAGE = `{{ range .Alerts }}{{ if eq .Status "firing" }}🔥 FIRING{{ else }}✅ RESOLVED{{ end }} <b>{{ .Labels.alertname | html }}</b> ({{ .Labels.severity | html }})
{{ .Annotations.summary | html }}
{{ if eq .Status "firing" }}{{ .Annotations.description | html }}
{{ end }}
{{ end }}`;

/**
 * alertmanager.yml: every alert goes to the owner's Telegram chat, grouped by alert name, host and service;
 * critical ones are repeated hourly while they last, warnings twice a day; both say when they are resolved.
 * Inhibition keeps the noise down: a critical alert silences the warning of the same alert on the same host
 * and service, and a host that is down silences the processes on it. The file holds the bot token, so the
 * program uploads it as a secret. Pure.
 */
export function renderAlertmanagerConfig(options: AlertmanagerConfigOptions): string {
  const { telegram } = options;
  if (!/^\S{20,}$/.test(telegram.botToken)) {
    throw new Error("the alert bot token must be at least 20 characters without spaces (from @BotFather)");
  }
  if (!Number.isSafeInteger(telegram.chatId) || telegram.chatId === 0) {
    throw new Error(`the alert chat id must be a non-zero integer; got ${telegram.chatId}`);
  }
  const groupWait = options.groupWait ?? "30s";
  const warningRepeat = options.warningRepeat ?? "12h";
  const criticalRepeat = options.criticalRepeat ?? "1h";
  for (const d of [groupWait, warningRepeat, criticalRepeat]) {
    if (!DURATION.test(d)) throw new Error(`durations must look like 30s, 5m or 1h; got ${d}`);
  }
  const config = {
    route: {
      receiver: "owner-telegram",
      group_by: ["alertname", "host", "service"],
      group_wait: groupWait,
      group_interval: "5m",
      repeat_interval: warningRepeat,
      routes: [
        { matchers: ['severity="critical"'], receiver: "owner-telegram", repeat_interval: criticalRepeat },
      ],
    },
    inhibit_rules: [
      {
        source_matchers: ['severity="critical"'],
        target_matchers: ['severity="warning"'],
        equal: ["alertname", "host", "service"],
      },
      {
        source_matchers: ['alertname="HostDown"'],
        target_matchers: ['alertname="ProcessDown"'],
        equal: ["host"],
      },
    ],
    receivers: [
      {
        name: "owner-telegram",
        telegram_configs: [
          {
            ...(telegram.apiUrl === undefined ? {} : { api_url: telegram.apiUrl }),
            bot_token: telegram.botToken,
            chat_id: telegram.chatId,
            parse_mode: "HTML",
            message: MESSAGE,
            send_resolved: true,
          },
        ],
      },
    ],
  };
  return `# Managed by tapbot infra (Pulumi). Holds the alert bot's token: keep it out of logs.\n${stringify(config, { lineWidth: 0 })}`;
}
