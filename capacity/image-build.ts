import type { PlanInput } from "./schema.js";

/** The image build the model budgets: on which host, its peak memory during a deploy and the disk it keeps. */
export interface ImageBuild {
  host: string;
  peakMB: number;
  diskGB: number;
}

/**
 * The build as the input says; none by default, because the program builds the app image on the machine that
 * runs `pulumi up` and ships it to the automation host (infra/render/app-image-script.ts), so no host's RAM or
 * disk carries it. A stack that builds on a host says so (`imageBuild: { host, peakMB, diskGB }`); measured on
 * this repository, such a build peaks near 900 MB (`npm ci` 536 MB and `tsc` 480 MB, BuildKit running the
 * build and dependency stages at once) and keeps about 1 GB (the build stage's layers and the previous image).
 */
export function imageBuildOf(input: PlanInput): ImageBuild | null {
  return input.imageBuild ?? null;
}
