import { availableParallelism } from "node:os";
import { configDefaults, defineConfig } from "vitest/config";

/**
 * One runner for the three parts. Integration tests start their own redis-server and
 * PostgreSQL, so files run in separate processes and get generous time limits. The tests that need a Docker
 * engine run on their own afterwards (`npm run test:containers`, vitest.containers.config.ts): Docker's
 * iptables chains must never meet the netns UFW tests here.
 *
 * At least two files at once, even on two cores (vitest's default there is one): most files spend their time
 * waiting on their servers, fake fal's processing times and timers, not computing. On the 2-core CI machine
 * the suite took 12.5 minutes one file at a time and 10.7 two at a time (both while other work ran).
 */
const files = Math.max(2, availableParallelism() - 1);

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    exclude: [...configDefaults.exclude, "tests/containers/**"],
    pool: "forks",
    maxWorkers: files,
    minWorkers: files,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ["default"],
  },
});
