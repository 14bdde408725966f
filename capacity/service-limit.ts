/** The memory a service may use, as Docker's limit of one replica. */

/** The fields of a service that its memory limit depends on. */
export interface MemoryBudget {
  baseMB: number;
  perUserMB: number;
  perJobMB: number;
}

/**
 * limit = baseMB + perUserMB × users + perJobMB × concurrency, rounded up to whole MB. Per-user memory lives
 * inside the container that holds it (the notes counted it a second time on top of the limits; this does not).
 */
export function serviceLimitMB(budget: MemoryBudget, users: number, concurrency: number): number {
  return Math.ceil(budget.baseMB + budget.perUserMB * users + budget.perJobMB * concurrency);
}
