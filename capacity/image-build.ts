import { IMAGE_BUILD_DEFAULTS } from "./defaults.js";
import type { PlanInput } from "./schema.js";

/** The image build the model budgets: on which host, its peak memory during a deploy and the disk it keeps. */
export interface ImageBuild {
  host: string;
  peakMB: number;
  diskGB: number;
}

/**
 * The build as the input says, or by default where infra runs it (the automation host's Docker builds the app
 * image during `pulumi up`) when the input has that host; null when it is built elsewhere.
 */
export function imageBuildOf(input: PlanInput): ImageBuild | null {
  if (input.imageBuild === null) return null;
  if (input.imageBuild !== undefined) return input.imageBuild;
  return input.hosts.some((h) => h.name === IMAGE_BUILD_DEFAULTS.host) ? { ...IMAGE_BUILD_DEFAULTS } : null;
}
