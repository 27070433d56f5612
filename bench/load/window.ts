// The measured window of a client process: opened after the warm-up and
// closed after the duration by timers, so that counting needs no clock read
// per message. Loops run until `stopping`; what completes while `measuring`
// counts.
import { type LoadResult, quantile } from "./result.js";

export class MeasureWindow {
  measuring = false;
  stopping = false;
  private start = 0;
  private end = 0;
  private cpuAtStart: NodeJS.CpuUsage | undefined;
  private cpuMicros = 0;
  private completed = 0;
  private errors = 0;
  private readonly errorSamples = new Set<string>();
  private readonly latencies: number[] = [];
  /** Resolves when the window has closed, so that a run whose loops all failed early still measures a window. */
  readonly closed: Promise<void>;

  /** Starts the clock: the window opens in `warmupSec` and closes `durationSec` later. */
  constructor(warmupSec: number, durationSec: number) {
    setTimeout(() => {
      this.measuring = true;
      this.start = performance.now();
      this.cpuAtStart = process.cpuUsage();
    }, warmupSec * 1000);
    this.closed = new Promise((resolve) =>
      setTimeout(
        () => {
          this.measuring = false;
          this.stopping = true;
          this.end = performance.now();
          const cpu = process.cpuUsage(this.cpuAtStart);
          this.cpuMicros = cpu.user + cpu.system;
          resolve();
        },
        (warmupSec + durationSec) * 1000,
      ),
    );
  }

  /** Counts `n` completed calls, messages or round trips, if the window is open. */
  count(n = 1): void {
    if (this.measuring) this.completed += n;
  }

  /** Records the latency of something that started at `startedAt`, if the window is open. */
  sample(startedAt: number): void {
    if (this.measuring) this.latencies.push(performance.now() - startedAt);
  }

  /** Counts one completed call that started at `startedAt`, with its latency. */
  record(startedAt: number): void {
    this.count();
    this.sample(startedAt);
  }

  fail(why: string): void {
    this.errors++;
    if (this.errorSamples.size < 3) this.errorSamples.add(why);
  }

  /** This process's CPU time over the window, in % of one core. */
  get cpuPercent(): number {
    return (this.cpuMicros / 1000 / (this.end - this.start)) * 100;
  }

  result(): LoadResult {
    this.latencies.sort((a, b) => a - b);
    return {
      throughput: this.completed / ((this.end - this.start) / 1000),
      completed: this.completed,
      p50Ms: quantile(this.latencies, 0.5),
      p99Ms: quantile(this.latencies, 0.99),
      errors: this.errors,
      errorDetail: this.errors ? `failed calls ${this.errors}: ${[...this.errorSamples].join("; ")}` : "",
    };
  }
}
