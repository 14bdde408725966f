import { describe, expect, it } from "vitest";
import { LoadArgsError, parseLoadArgs } from "./load-args.js";

describe("npm run bench:load's arguments", () => {
  it("takes several load levels and fills the defaults it documents", () => {
    expect(parseLoadArgs(["--users", "300", "--users", "1200", "--time-factor", "2.5"])).toEqual({
      users: [300, 1200],
      minutes: 2,
      timeFactor: 2.5,
      maxWorkers: 10,
      providerConcurrency: undefined,
      seed: 1,
      out: undefined,
    });
    expect(parseLoadArgs(["--help"])).toBeNull();
  });

  it("names each bad option and what it allows", () => {
    const problems = (argv: string[]): string => {
      try {
        parseLoadArgs(argv);
      } catch (error) {
        if (error instanceof LoadArgsError) return error.message;
        throw error;
      }
      throw new Error("no error");
    };
    expect(problems([])).toMatch(/--users is required/);
    expect(problems(["--users", "3.5"])).toMatch(/--users must be a whole number ≥ 1/);
    expect(problems(["--users", "300", "--time-factor", "0.5", "--minutes", "x"])).toMatch(
      /--minutes must be a number > 0\n--time-factor must be a number ≥ 1/,
    );
    expect(problems(["--users", "300", "--workers", "3"])).toMatch(/Unknown option '--workers'[\s\S]*Usage:/);
  });
});
