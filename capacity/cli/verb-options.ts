import { z } from "zod";
import { issuesFromZod } from "../input-error.js";
import { UsageError } from "./usage-error.js";

/** How a report is printed: for a terminal, or as Markdown. */
export const formatSchema = z.enum(["text", "md"]).default("text");
export type ReportFormat = z.output<typeof formatSchema>;

/** The options of a verb that prints one report: `--json` instead of it, `--format` for it. */
export const reportOptions = z.object({ json: z.boolean().default(false), format: formatSchema });

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Validates a verb's own options (format, range, output file) with zod; bad ones are a UsageError naming the flag. */
export function parseVerbOptions<T extends z.ZodType>(
  schema: T,
  options: Record<string, unknown>,
): z.output<T> {
  const result = schema.safeParse(options);
  if (result.success) return result.data;
  const details = issuesFromZod(result.error, options).map((i) => `--${kebab(i.path)}: ${i.message}`);
  throw new UsageError("invalid option", details);
}

/**
 * A numeric flag's text (commander hands over text) as a number when it is one, else as given, so that the
 * schema reports `got "abc"`.
 */
export function numeric(text: unknown): unknown {
  if (typeof text !== "string") return text;
  const n = Number(text);
  return text.trim() !== "" && Number.isFinite(n) ? n : text;
}
