import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  applyCalibration,
  type Calibration,
  CalibrationFileError,
  loadCapacityInput,
  type PlanInput,
  parseCalibration,
  parsePlanInput,
  plan,
} from "../../capacity/index.js";
import { issuesOf, limitOf, root } from "./support.js";

const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));
const notesHost = () => parse(readFileSync(join(fixtures, "notes-100-users.yaml"), "utf8"));

/** A service's budget in the input. */
function service(input: PlanInput, name: string) {
  const found = input.services.find((s) => s.name === name);
  if (found === undefined) throw new Error(`no service ${name}`);
  return found;
}

const measured: Calibration = parseCalibration({
  source: "bench on the test machine",
  services: { bot: { baseMB: 200, perUserMB: 0.005, reservationMB: 130 }, worker: { perJobMB: 3 } },
  cpuSecondsPerStep: 0.004,
  stepsPerJob: 7,
  messagesPerJob: 3,
  redisData: { bytesPerKey: { resultCache: 180, job: 2500 } },
});

describe("parseCalibration", () => {
  it.each([
    [{ services: {} }, "calibration.source: missing; expected a string"],
    [{ source: "" }, 'calibration.source: got ""; expected at least 1 character(s)'],
    [{ source: "x", sevices: {} }, "calibration.sevices: unknown key; remove it or fix its spelling"],
    [
      { source: "x", services: { bot: { perUserMb: 1 } } },
      "calibration.services.bot.perUserMb: unknown key; remove it or fix its spelling",
    ],
    [
      { source: "x", services: { bot: { perUserMB: -1 } } },
      "calibration.services.bot.perUserMB: got -1; expected a number ≥ 0",
    ],
    [
      { source: "x", services: { worker: { baseMB: 0 } } },
      "calibration.services.worker.baseMB: got 0; expected a number > 0",
    ],
    [
      { source: "x", cpuSecondsPerStep: "fast" },
      'calibration.cpuSecondsPerStep: got "fast"; expected a number',
    ],
    [{ source: "x", stepsPerJob: 0 }, "calibration.stepsPerJob: got 0; expected a number > 0"],
    [
      { source: "x", redisData: { bytesPerKey: { cache: 100 } } },
      "calibration.redisData.bytesPerKey.cache: unknown key; remove it or fix its spelling",
    ],
    [
      { source: "x", redisData: { bytesPerKey: { updateLog: -1 } } },
      "calibration.redisData.bytesPerKey.updateLog: got -1; expected a number > 0",
    ],
    [
      { source: "x", cpuSecondsPerJob: 0.03 },
      "calibration.cpuSecondsPerJob: unknown key; remove it or fix its spelling",
    ],
    [{ source: "x", services: [] }, "calibration.services: got a list; expected a record"],
    ["calibration.json", 'calibration: got "calibration.json"; expected an object'],
  ])("rejects %j naming the field, the value and what is allowed", (raw, expected) => {
    expect(issuesOf(() => parseCalibration(raw))).toContain(expected);
  });

  it("accepts the committed capacity/calibration.json, whose budgets the bench derived", () => {
    const file = parseCalibration(JSON.parse(readFileSync(join(root, "capacity/calibration.json"), "utf8")));
    expect(file.services.bot?.perUserMB).toBeDefined();
    expect(file.services.worker?.perJobMB).toBeDefined();
    expect(file.cpuSecondsPerStep).toBeGreaterThan(0);
    expect(file.stepsPerJob).toBeGreaterThan(0);
    expect(file.measurement?.budgets).toMatchObject({ rule: expect.stringMatching(/× the fitted line/) });
  });
});

describe("applyCalibration", () => {
  it("replaces only the figures it gives, by service name, and records its source", () => {
    const input = parsePlanInput({ users: 300 });
    const calibrated = applyCalibration(input, measured);
    expect(service(calibrated, "bot")).toEqual({
      ...service(input, "bot"),
      baseMB: 200,
      perUserMB: 0.005,
      reservationMB: 130,
    });
    expect(service(calibrated, "worker")).toEqual({ ...service(input, "worker"), perJobMB: 3 });
    for (const name of ["redis", "n8n", "postgres", "directus", "qdrant"]) {
      expect(service(calibrated, name)).toEqual(service(input, name));
    }
    expect(calibrated).toMatchObject({ cpuSecondsPerStep: 0.004, stepsPerJob: 7, messagesPerJob: 3 });
    expect(calibrated.redisData).toEqual({
      emptyMB: input.redisData.emptyMB,
      bytesPerKey: { ...input.redisData.bytesPerKey, resultCache: 180, job: 2500 },
    });
    expect(calibrated.calibration).toEqual({ source: "bench on the test machine" });
    expect(input.calibration).toBeNull();
    expect(service(input, "bot").perUserMB).toBe(18);
  });

  it("keeps the inputs the calibration does not give", () => {
    const input = parsePlanInput({ users: 10, cpuSecondsPerStep: 2, stepsPerJob: 3, messagesPerJob: 5 });
    const calibrated = applyCalibration(input, parseCalibration({ source: "x" }));
    expect(calibrated).toMatchObject({ cpuSecondsPerStep: 2, stepsPerJob: 3, messagesPerJob: 5 });
    expect(calibrated.redisData).toEqual(input.redisData);
  });

  it("merges over a file's own services list too", () => {
    const calibrated = applyCalibration(parsePlanInput(notesHost()), measured);
    expect(service(calibrated, "bot")).toMatchObject({ host: "box", baseMB: 200, perUserMB: 0.005 });
    expect(service(calibrated, "api")).toMatchObject({ baseMB: 200, reservationMB: 120 });
  });

  it("refuses a calibrated service that is not in the services list, naming the ones that are", () => {
    const calibration = parseCalibration({ source: "x", services: { n8n: { baseMB: 300 } } });
    expect(issuesOf(() => applyCalibration(parsePlanInput(notesHost()), calibration))).toEqual([
      'calibration.services.n8n: no service named "n8n" in the services list; expected one of redis, api, bot, worker',
    ]);
  });

  it("refuses a measured limit below the service's reservation, saying the calibration caused it", () => {
    const calibration = parseCalibration({ source: "tiny bench", services: { bot: { baseMB: 50 } } });
    const [problem] = issuesOf(() => applyCalibration(parsePlanInput({ users: 1 }), calibration));
    expect(problem).toMatch(
      /^services\[3\]\.reservationMB: got 100; expected at most the memory limit, 68 MB at 1 users/,
    );
    expect(problem).toContain("(with the budgets calibrated from tiny bench)");
  });

  it("shrinks the bot from 5550 MB to the measured line at 300 users, and the plan says where from", () => {
    const botOnly = parseCalibration({ ...measured, services: { bot: measured.services.bot } });
    const before = plan(parsePlanInput({ users: 300 }));
    const after = plan(applyCalibration(parsePlanInput({ users: 300 }), botOnly));
    expect(limitOf(before, "bot")).toBe(5550);
    expect(limitOf(after, "bot")).toBe(Math.ceil(200 + 0.005 * 300));
    expect(before.calibration).toBeNull();
    expect(after.calibration).toEqual({ source: "bench on the test machine" });
    const automation = (p: typeof before) => p.hosts.find((h) => h.name === "automation")?.usedMB ?? 0;
    // Both bot replicas shrink.
    expect(automation(before) - automation(after)).toBe(2 * (5550 - limitOf(after, "bot")));
  });
});

describe("loadCapacityInput", () => {
  const calibrationText = JSON.stringify({ source: "from a file", services: { bot: { perUserMB: 0.01 } } });

  /** A reader over an in-memory directory that records which paths it was asked for. */
  function reader(files: Record<string, string>) {
    const asked: string[] = [];
    const readFile = (path: string) => {
      asked.push(path);
      const text = files[path];
      if (text === undefined) throw new Error(`no such file ${path}`);
      return text;
    };
    return { asked, readFile };
  }

  it("without a calibration gives the notes' 100-user host: 3056 MB, as before", () => {
    const { asked, readFile } = reader({});
    const input = loadCapacityInput({ raw: notesHost(), baseDir: "/cfg", readFile });
    expect(asked).toEqual([]);
    expect(input.calibration).toBeNull();
    expect(plan(input).hosts[0]?.usedMB).toBe(3056);
  });

  it("reads calibration: relative to the file's directory and merges it", () => {
    const { asked, readFile } = reader({ "/cfg/bench/cal.json": calibrationText });
    const input = loadCapacityInput({
      raw: { ...notesHost(), calibration: "bench/cal.json" },
      baseDir: "/cfg",
      readFile,
    });
    expect(asked).toEqual(["/cfg/bench/cal.json"]);
    expect(service(input, "bot").perUserMB).toBe(0.01);
    expect(plan(input).calibration).toEqual({ source: "from a file" });
  });

  it("takes an explicit calibration file over the file's calibration: key", () => {
    const { asked, readFile } = reader({ "other.json": calibrationText });
    loadCapacityInput({
      raw: { users: 5, calibration: "never-read.json" },
      baseDir: "/cfg",
      readFile,
      calibrationFile: "other.json",
    });
    expect(asked).toEqual(["other.json"]);
  });

  it("lets an input given as an override (a flag) win over the calibration's", () => {
    const text = JSON.stringify({ source: "x", cpuSecondsPerStep: 0.003, stepsPerJob: 8 });
    const { readFile } = reader({ "/c.json": text });
    const base = { raw: { users: 5 }, baseDir: "/", readFile, calibrationFile: "/c.json" };
    expect(loadCapacityInput(base)).toMatchObject({ cpuSecondsPerStep: 0.003, stepsPerJob: 8 });
    expect(loadCapacityInput({ ...base, overrides: { cpuSecondsPerStep: 1 } })).toMatchObject({
      cpuSecondsPerStep: 1,
      stepsPerJob: 8,
    });
  });

  it("names the calibration file when it is not valid JSON or breaks the schema", () => {
    const { readFile } = reader({
      "/bad.json": '{ "source": "x", ',
      "/typo.json": '{ "sorce": "x", "stepsPerJob": 6 }',
    });
    const load = (file: string) => () =>
      loadCapacityInput({ raw: { users: 5 }, baseDir: "/", readFile, calibrationFile: file });
    expect(load("/bad.json")).toThrow(CalibrationFileError);
    // What the file holds is never repeated: it may be any file the path pointed at.
    expect(issuesOf(load("/bad.json"))).toEqual([
      "calibration: not a calibration file: expected a JSON or YAML mapping of `source` and the measured figures, like capacity/calibration.json",
    ]);
    expect(load("/typo.json")).toThrow(expect.objectContaining({ file: "/typo.json" }));
    expect(issuesOf(load("/typo.json"))).toContain(
      "calibration.sorce: unknown key; remove it or fix its spelling",
    );
  });

  it("judges 200 000 unknown keys in linear time, reporting 20 of them and how many more", () => {
    const keys = Array.from({ length: 200_000 }, (_, i) => `k${i}: 1`).join("\n");
    const { readFile } = reader({ "/many.yaml": `source: x\n${keys}\n` });
    const started = performance.now();
    const issues = issuesOf(() =>
      loadCapacityInput({ raw: { users: 5 }, baseDir: "/", readFile, calibrationFile: "/many.yaml" }),
    );
    const seconds = (performance.now() - started) / 1000;
    expect(issues).toHaveLength(21);
    expect(issues[0]).toBe("calibration.k0: unknown key; remove it or fix its spelling");
    expect(issues[20]).toBe("calibration: and 199980 more problems");
    // The parser's own duplicate check made this quadratic (over a minute); linear takes a few seconds.
    // A generous bound for a shared two-core machine.
    expect(seconds).toBeLessThan(30);
  }, 60_000);

  it("names a key given twice in a calibration", () => {
    const { readFile } = reader({ "/twice.yaml": "source: x\nstepsPerJob: 6\nstepsPerJob: 7\n" });
    expect(
      issuesOf(() =>
        loadCapacityInput({ raw: { users: 5 }, baseDir: "/", readFile, calibrationFile: "/twice.yaml" }),
      ),
    ).toEqual(["calibration.stepsPerJob: given twice; a key may appear once in a mapping"]);
  });

  it("is calibrated by default: the project's calibration for the default services, unless the profile is legacy", () => {
    const { asked, readFile } = reader({ "/default.json": calibrationText });
    const defaults = { baseDir: "/", readFile, defaultCalibrationFile: "/default.json" };
    const calibrated = loadCapacityInput({ ...defaults, raw: { users: 300 } });
    expect(asked).toEqual(["/default.json"]);
    expect(service(calibrated, "bot").perUserMB).toBe(0.01);
    expect(calibrated.calibration).toEqual({ source: "from a file" });
    // The old figures stay available by name, from a file's key or the flag.
    for (const legacy of [
      loadCapacityInput({ ...defaults, raw: { users: 300, profile: "legacy" } }),
      loadCapacityInput({ ...defaults, raw: { users: 300 }, overrides: { profile: "legacy" } }),
    ]) {
      expect(service(legacy, "bot").perUserMB).toBe(18);
      expect(legacy.calibration).toBeNull();
    }
    expect(asked).toEqual(["/default.json"]);
    // A file that lists its own services keeps its own figures: the notes' host is still 3056 MB.
    const own = loadCapacityInput({ ...defaults, raw: notesHost() });
    expect(own.calibration).toBeNull();
    expect(plan(own).hosts[0]?.usedMB).toBe(3056);
  });

  it("names a bad profile and a legacy profile given a calibration", () => {
    const { readFile } = reader({ "/c.json": calibrationText });
    expect(
      issuesOf(() => loadCapacityInput({ raw: { users: 5, profile: "measured" }, baseDir: "/", readFile })),
    ).toEqual(['profile: got "measured"; expected one of calibrated, legacy']);
    expect(
      issuesOf(() =>
        loadCapacityInput({
          raw: { users: 5, profile: "legacy" },
          baseDir: "/",
          readFile,
          calibrationFile: "/c.json",
        }),
      )[0],
    ).toMatch(/^profile: legacy uses the notes' unmeasured budgets, so it takes no calibration/);
  });
});
