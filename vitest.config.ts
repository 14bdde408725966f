import { defineConfig } from "vitest/config";

/**
 * One runner for the three parts. Integration tests start their own redis-server and
 * PostgreSQL, so files run in separate processes and get generous time limits.
 */
export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    pool: "forks",
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ["default"],
  },
});
