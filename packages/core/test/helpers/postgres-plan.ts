import pg from 'pg';

/**
 * The plan PostgreSQL gives a statement the store ran, planned generically (as it does for a
 * prepared statement after a few runs, whatever the values), on one of the pool's own connections
 * (so with the store's plan settings).
 */
export async function genericPlan(pool: pg.Pool, config: pg.QueryConfig): Promise<string> {
  const client = await pool.connect();
  try {
    await client.query('SET plan_cache_mode = force_generic_plan');
    await client.query(`PREPARE holdpoint_plan_probe AS ${config.text}`);
    const literals = (config.values ?? []).map((value) => literal(client, value));
    const { rows } = await client.query(`EXPLAIN EXECUTE holdpoint_plan_probe(${literals.join(', ')})`);
    return rows.map((row: Record<string, string>) => row['QUERY PLAN']).join('\n');
  } finally {
    await client.query('DEALLOCATE holdpoint_plan_probe; RESET plan_cache_mode').catch(() => undefined);
    client.release();
  }
}

/** A parameter value as an SQL literal (text, number, null, or an array of them). */
function literal(client: pg.PoolClient, value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (Array.isArray(value)) {
    const items = value.map((item) =>
      item === null ? 'NULL' : `"${String(item).replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`,
    );
    return client.escapeLiteral(`{${items.join(',')}}`);
  }
  return client.escapeLiteral(String(value));
}

/** A statement a store ran, with the pool it ran on. */
export interface RanStatement {
  pool: pg.Pool;
  config: pg.QueryConfig;
}

/**
 * Keep every statement whose text `matches` that a store runs while `work` runs (the store's
 * statements are query configs, named and prepared).
 */
export async function statementsRan(
  matches: (text: string) => boolean,
  work: () => Promise<unknown>,
): Promise<RanStatement[]> {
  const statements: RanStatement[] = [];
  const query = pg.Pool.prototype.query;
  pg.Pool.prototype.query = function (this: pg.Pool, ...args: unknown[]) {
    const [config] = args as [pg.QueryConfig | string];
    if (typeof config === 'object' && matches(config.text)) statements.push({ pool: this, config });
    return (query as (...args: unknown[]) => unknown).apply(this, args);
  } as typeof query;
  try {
    await work();
  } finally {
    pg.Pool.prototype.query = query;
  }
  return statements;
}
