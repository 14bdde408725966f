import { sleep } from "../support/http-kit.js";
import type { CompiledProcess } from "./compiled-app.js";
import { cpuSeconds, rssMB, steadyRssMB } from "./proc-stats.js";

/** Memory and CPU of one role over a measured window. */
export interface ProcessFigures {
  /** The most RSS seen in any sample (VmRSS, what a cgroup limit sees), the most of any process of the role. */
  peakRssMB: number;
  /** RSS right after a forced full GC at the window's end, under load: the mean over the role's processes. */
  afterGcRssMB: number;
  /** CPU (user + system) used in the window, summed over the role's processes. */
  cpuSeconds: number;
}

/** How often RSS is sampled: often enough to catch a deliver step's peak, cheap on a 2-core machine. */
const SAMPLE_MS = 500;

/**
 * Samples the bot's and the workers' RSS through a window and takes their CPU at its edges, then, at its
 * end and with the load still on, forces a full GC in each (compiled-app.ts's SIGUSR2 hook) and reads what
 * each retains.
 */
export class ProcessSampler {
  constructor(
    private readonly bot: CompiledProcess,
    private readonly workers: readonly CompiledProcess[],
  ) {}

  /** CPU the workers use together with nothing to do, CPU s per s, over `ms`. */
  async workerIdleCpuPerSecond(ms: number): Promise<number> {
    const before = await Promise.all(this.workers.map((p) => cpuSeconds(p.pid)));
    await sleep(ms);
    const after = await Promise.all(this.workers.map((p) => cpuSeconds(p.pid)));
    return after.reduce((sum, c, i) => sum + c - (before[i] ?? 0), 0) / (ms / 1000);
  }

  async run(from: number, to: number): Promise<{ bot: ProcessFigures; worker: ProcessFigures }> {
    const all = [this.bot, ...this.workers];
    await sleep(Math.max(0, from - Date.now()));
    const cpuBefore = await Promise.all(all.map((p) => cpuSeconds(p.pid)));
    const peaks = all.map(() => 0);
    while (Date.now() < to) {
      const rss = await Promise.all(all.map((p) => rssMB(p.pid)));
      rss.forEach((mb, i) => {
        peaks[i] = Math.max(peaks[i] ?? 0, mb);
      });
      await sleep(Math.min(SAMPLE_MS, Math.max(0, to - Date.now())));
    }
    const cpuAfter = await Promise.all(all.map((p) => cpuSeconds(p.pid)));
    for (const p of all) p.collectGarbage();
    await sleep(500);
    const retained = await Promise.all(all.map((p) => steadyRssMB(p.pid, 3, 200)));
    const cpu = cpuAfter.map((c, i) => c - (cpuBefore[i] ?? 0));
    const workerRetained = retained.slice(1);
    return {
      bot: { peakRssMB: peaks[0] ?? 0, afterGcRssMB: retained[0] ?? 0, cpuSeconds: cpu[0] ?? 0 },
      worker: {
        peakRssMB: Math.max(...peaks.slice(1)),
        afterGcRssMB: workerRetained.reduce((s, v) => s + v, 0) / workerRetained.length,
        cpuSeconds: cpu.slice(1).reduce((s, v) => s + v, 0),
      },
    };
  }
}
