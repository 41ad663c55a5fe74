/**
 * The payment service's own state: a ledger of payments (paid or pending) behind a `ResourcePool`. By default an
 * embedded in-process store whose connections the pool lends out; with a PostgreSQL URL, a table through `PgPool`.
 *
 * @since 0.1.0
 */
import { PgPool, ResourcePool } from "@effect-resilience/pool"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"

/**
 * The ledger could not record a payment.
 *
 * @since 0.1.0
 * @category errors
 */
export class LedgerError extends Data.TaggedError("LedgerError")<{
  readonly ledgerName: string
  readonly cause: unknown
}> {}

/**
 * A payment's state in the ledger.
 *
 * @since 0.1.0
 * @category models
 */
export type Status = "paid" | "pending"

/**
 * The ledger.
 *
 * @since 0.1.0
 * @category models
 */
export interface Ledger {
  /** Where the payments live: `embedded` or the redacted PostgreSQL URL. */
  readonly description: string
  /** Records (or updates) a payment. */
  readonly record: (order: string, status: Status) => Effect.Effect<void, LedgerError>
  /** A cheap round trip through the pool, for the health check. */
  readonly ping: Effect.Effect<void, LedgerError>
  /** Payments by status (warm-up payments left out). */
  readonly counts: Effect.Effect<Record<Status, number>, LedgerError>
}

class Connection {
  open = true
  constructor(readonly rows: Map<string, Status>) {}
}

/**
 * The embedded ledger: an in-process store; the pool lends out up to 8 connections to it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const embedded = (name: string): Effect.Effect<Ledger, never, Scope.Scope> =>
  Effect.gen(function*() {
    const rows = new Map<string, Status>()
    const pool = yield* ResourcePool.make({
      name,
      acquire: Effect.acquireRelease(
        Effect.sync(() => new Connection(rows)),
        (c) => Effect.sync(() => (c.open = false))
      ),
      max: 8,
      acquireTimeout: "1 second"
    }).pipe(Effect.orDie) // fixed, valid options
    const fail = (cause: unknown) => new LedgerError({ ledgerName: name, cause })
    return {
      description: "embedded (in-process, through a ResourcePool of 8)",
      record: (order, status) =>
        pool.use((c) => Effect.sync(() => void c.rows.set(order, status))).pipe(Effect.mapError(fail)),
      ping: pool.use((c) => (c.open ? Effect.void : Effect.fail(fail("closed connection")))).pipe(
        Effect.mapError((e) => (e instanceof LedgerError ? e : fail(e)))
      ),
      counts: pool.use((c) =>
        Effect.sync(() => {
          const counts: Record<Status, number> = { paid: 0, pending: 0 }
          for (const [order, status] of c.rows) if (!order.startsWith("warmup")) counts[status]++
          return counts
        })
      ).pipe(Effect.mapError(fail))
    }
  })

/**
 * The PostgreSQL ledger: table `demo_payments` (created if missing; rows keyed by run and order) through `PgPool`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const postgres = (name: string, url: string, run: string): Effect.Effect<Ledger, LedgerError, Scope.Scope> =>
  Effect.gen(function*() {
    const fail = (cause: unknown) => new LedgerError({ ledgerName: name, cause })
    const db = yield* PgPool.make({
      name,
      url: Redacted.make(url),
      applicationName: `effect-resilience-demo-${run}`,
      max: 8,
      queryTimeout: "2 seconds"
    }).pipe(Effect.mapError(fail))
    yield* db.query(
      "CREATE TABLE IF NOT EXISTS demo_payments (run text NOT NULL, ord text NOT NULL, status text NOT NULL, " +
        "PRIMARY KEY (run, ord))"
    ).pipe(Effect.mapError(fail))
    return {
      description: `PostgreSQL ${url.replace(/\/\/[^@/]*@/, "//***@")} (through PgPool, max 8)`,
      record: (order, status) =>
        db.query(
          "INSERT INTO demo_payments (run, ord, status) VALUES ($1, $2, $3) " +
            "ON CONFLICT (run, ord) DO UPDATE SET status = EXCLUDED.status",
          [run, order, status]
        ).pipe(Effect.asVoid, Effect.mapError(fail)),
      ping: Effect.mapError(db.ping, fail),
      counts: db.query<{ status: Status; n: string }>(
        "SELECT status, count(*) AS n FROM demo_payments WHERE run = $1 AND ord NOT LIKE 'warmup%' GROUP BY status",
        [run]
      ).pipe(
        Effect.map((rows) => {
          const counts: Record<Status, number> = { paid: 0, pending: 0 }
          for (const row of rows) counts[row.status] = Number(row.n)
          return counts
        }),
        Effect.mapError(fail)
      )
    }
  })
