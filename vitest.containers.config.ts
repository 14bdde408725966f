import { defineConfig } from "vitest/config";

/**
 * The containers lane (`npm run test:containers`, tests/containers/): tests that start a real dockerd. One
 * file at a time, so that two engines never compete for the 2 cores, with time limits that allow for an
 * engine start and UFW's slow reloads. The globalSetup gives the files one directory for the images the lane
 * builds once and they share (support/lane-images.ts).
 */
export default defineConfig({
  test: {
    include: ["tests/containers/**/*.test.ts"],
    globalSetup: ["tests/containers/support/lane-setup.ts"],
    pool: "forks",
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    reporters: ["default"],
  },
});
