import { describe, expect, it } from "vitest";
import { autoTimeFactor, LoadArgsError, parseLoadArgs } from "./load-args.js";

describe("npm run bench:load's arguments", () => {
  it("takes several load levels and fills the defaults it documents", () => {
    expect(parseLoadArgs(["--users", "300", "--users", "1200", "--time-factor", "2.5"])).toEqual({
      users: [300, 1200],
      minutes: 2,
      timeFactor: 2.5,
      maxRate: 5,
      maxWorkers: 10,
      providerConcurrency: undefined,
      seed: 1,
      out: undefined,
    });
    expect(parseLoadArgs(["--users", "300"])?.timeFactor).toBe("auto");
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
      /--minutes must be a number > 0\n--time-factor must be auto or a number ≥ 1/,
    );
    expect(problems(["--users", "300", "--workers", "3"])).toMatch(/Unknown option '--workers'[\s\S]*Usage:/);
  });
});

describe("the automatic time factor", () => {
  it("compresses as much as keeps the real arrival rate within what the machine carries, from 1 to 10", () => {
    expect(autoTimeFactor(1.25, 10)).toBe(8);
    expect(autoTimeFactor(5, 10)).toBe(2);
    expect(autoTimeFactor(10, 10)).toBe(1);
    expect(autoTimeFactor(40, 10)).toBe(1);
    expect(autoTimeFactor(0.25, 10)).toBe(10);
  });
});
