/**
 * A report as blocks that a terminal renderer and a Markdown renderer both print, so the two formats say the
 * same things. Tones carry meaning (severity, status); each renderer decides how to show them.
 */

/** What a piece of text means: a severity, a status, or emphasis. */
export type Tone = "error" | "warn" | "info" | "ok" | "crit" | "strong" | "dim";

/** The tone of each status of a host resource. */
export const STATUS_TONE = { ok: "ok", warn: "warn", crit: "crit" } as const satisfies Record<string, Tone>;

/** A piece of text with an optional tone. */
export interface Cell {
  text: string;
  tone?: Tone;
}

/** One RAM bar: used against the host, with its warn and critical marks. */
export interface Bar {
  label: string;
  utilization: number;
  warn: number;
  crit: number;
  tone: Tone;
}

/** A block of a report. */
export type Block =
  | { kind: "title"; text: string }
  | { kind: "heading"; text: string }
  | { kind: "pairs"; rows: [string, Cell[]][] }
  | { kind: "table"; header: string[]; right: boolean[]; rows: Cell[][] }
  | { kind: "bars"; bars: Bar[] }
  | { kind: "line"; cells: Cell[] };

/** Plain cell. */
export const cell = (text: string, tone?: Tone): Cell => (tone === undefined ? { text } : { text, tone });
