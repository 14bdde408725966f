/**
 * vitest.containers.config.ts's globalSetup: one directory for the lane's shared image tarballs (see
 * lane-images.ts), named to the test files through {@link LANE_IMAGES_ENV} (they are forked after this runs,
 * with its environment) and removed when the lane ends. Nothing is built here: a lane run for one file
 * (a filter) builds only what that file needs.
 */
import { makeTempDir, removeTempDir } from "../../support/temp-dir.js";
import { LANE_IMAGES_ENV } from "./lane-images.js";

export default async function setup(): Promise<() => Promise<void>> {
  // Set by hand (a directory that exists), it is kept: images built in one run serve the next while iterating.
  if (process.env[LANE_IMAGES_ENV] !== undefined) return async () => {};
  const dir = await makeTempDir("lane-images");
  process.env[LANE_IMAGES_ENV] = dir;
  return async () => {
    delete process.env[LANE_IMAGES_ENV];
    await removeTempDir(dir);
  };
}
