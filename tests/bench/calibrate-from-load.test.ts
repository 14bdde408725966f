import { describe, expect, it } from "vitest";
import { parseCalibration } from "../../capacity/index.js";
import { calibrationFromLoad, parseLoadResults } from "./calibrate-from-load.js";

const level = (users: number, measured: number, polls: number, calls: number, cpu: number) => ({
  users,
  workersRun: 2,
  timeFactor: 4,
  measurement: {
    measured,
    arrived: measured + 10,
    pollsPerJob: polls,
    telegramCallsPerJob: calls,
    workerBusyCpuSecondsPerJob: cpu,
    bot: { peakRssMB: 140, afterGcRssMB: 135 },
    worker: { peakRssMB: 130, afterGcRssMB: 125 },
  },
});

describe("calibrate --from-load: the calibration from bench:load's runs", () => {
  const results = parseLoadResults(
    {
      command: "npm run bench:load -- --users 300 --users 1200",
      minutes: 2,
      levels: [level(300, 100, 5, 4, 0.01), level(1200, 300, 6, 4, 0.02)],
    },
    "load.json",
  );

  it("weights each level by its measured requests and applies calibrate's headroom to the CPU", () => {
    const { part, record } = calibrationFromLoad(results, "calibrate --from-load");
    // polls (5×100 + 6×300) / 400 = 5.75 → 6.75 steps; CPU (0.01×100 + 0.02×300) / 400 = 0.0175 s per job.
    expect(part).toEqual({ stepsPerJob: 6.75, cpuSecondsPerStep: 0.004, messagesPerJob: 4 });
    expect(record.wrote).toEqual(["stepsPerJob", "cpuSecondsPerStep", "messagesPerJob"]);
    // What it writes is a calibration the model accepts.
    expect(() => parseCalibration({ source: "test", ...part })).not.toThrow();
  });

  it("names every missing figure of a file that is not bench:load's", () => {
    expect(() => parseLoadResults({ command: "x", minutes: 2, levels: [] }, "f.json")).toThrow(
      /f\.json is not a bench:load --out file:\n {2}levels: no load level in the file/,
    );
    expect(() => parseLoadResults({ command: "x", minutes: 2, levels: [{ users: 3 }] }, "f.json")).toThrow(
      /levels\.0\.workersRun: .*\n {2}levels\.0\.timeFactor: .*\n {2}levels\.0\.measurement: /,
    );
  });
});
