import { configDefaults, defineConfig } from "vitest/config";

/**
 * One runner for the three parts. Integration tests start their own redis-server and
 * PostgreSQL, so files run in separate processes and get generous time limits. The tests that need a Docker
 * engine run on their own afterwards (`npm run test:containers`, vitest.containers.config.ts): Docker's
 * iptables chains must never meet the netns UFW tests here.
 */
export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    exclude: [...configDefaults.exclude, "tests/containers/**"],
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ["default"],
  },
});
