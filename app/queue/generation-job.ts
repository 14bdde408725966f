import { z } from "zod";
import { generationKinds } from "../config.js";
import { locales } from "../i18n/index.js";
import { type Tier, tiers } from "../storage/user-store.js";

/** Bigger parameters than this are a bug (or image bytes smuggled in): jobs carry ids and settings only. */
const maxParamsBytes = 4096;

/**
 * The payload of a generation job as the bot enqueues it. It carries Telegram ids and settings, never
 * image bytes (the worker fetches the source photo by `sourceFileId` when it runs), so Redis memory per
 * job stays around a kilobyte whatever the user sends.
 */
export const generationJobSchema = z.object({
  generationId: z.uuid(),
  telegramUserId: z.number().int().positive(),
  chatId: z.number().int(),
  kind: z.enum(generationKinds),
  model: z.string().min(1).max(200),
  prompt: z.string().max(20_000),
  params: z
    .record(z.string(), z.unknown())
    .refine(
      (p) => JSON.stringify(p).length <= maxParamsBytes,
      `params must serialize to at most ${maxParamsBytes} bytes`,
    ),
  sourceFileId: z.string().min(1).max(500).optional(),
  locale: z.enum(locales),
  cacheKey: z.string().min(1).max(200),
  tier: z.enum(tiers),
});

export type GenerationJob = z.infer<typeof generationJobSchema>;

/** BullMQ priorities by tier (lower runs first): vip requests go ahead of free ones. */
export const tierPriority: Record<Tier, number> = { vip: 1, free: 10 };
