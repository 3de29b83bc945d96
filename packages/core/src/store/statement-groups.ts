// Calls to a server store that wait for a statement, run in groups (the PostgreSQL backend's appends
// and record reads): what goes in a group is the caller's (`append-groups.ts` for appends).

/**
 * Calls that wait for a statement, run a group at a time: while fewer than `statements` groups run,
 * the next is taken from the queue (`take`) and run (`run`, which answers each call of its group
 * and never throws). Under little load a group is one call, started at once; under more, the calls
 * that come while statements run wait for one to end and go together, so the statement's fixed cost
 * (its round trip, the start of its plan, its commit) is paid once per group.
 */
export class StatementGroups<T> {
  readonly #queue: T[] = [];
  #running = 0;
  readonly #statements: number;
  readonly #take: (queue: T[]) => T[];
  readonly #run: (group: T[]) => Promise<void>;

  constructor(options: {
    statements: number;
    take: (queue: T[]) => T[];
    run: (group: T[]) => Promise<void>;
  }) {
    this.#statements = options.statements;
    this.#take = options.take;
    this.#run = options.run;
  }

  /** Queue a call; it runs at once when fewer than `statements` groups run. */
  add(call: T): void {
    this.#queue.push(call);
    this.#start();
  }

  #start(): void {
    while (this.#running < this.#statements && this.#queue.length > 0) {
      const group = this.#take(this.#queue);
      this.#running++;
      void this.#run(group).finally(() => {
        this.#running--;
        this.#start();
      });
    }
  }
}
