/**
 * Our side of scenario 5: `PgPool` with the scenario's connection settings, default options otherwise.
 *
 * @since 0.1.0
 */
import { PgPool } from "@effect-resilience/pool"
import { Effect } from "effect"
import type { PgAdapter } from "../scenarios/postgres.js"

/**
 * @since 0.1.0
 * @category adapters
 */
export const adapter: PgAdapter = {
  label: "ours `PgPool.query`",
  make: (options) =>
    Effect.map(
      PgPool.make({
        name: "bench-pg",
        host: options.host,
        port: options.port,
        user: options.user,
        database: options.database,
        max: options.max,
        applicationName: options.applicationName
      }),
      (pool) => (sql) => pool.query(sql)
    )
}
