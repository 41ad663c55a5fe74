/**
 * node-postgres clients in a `ResourcePool`: typed rows, a per-query timeout that really stops the statement on
 * the server, `PgError { code, transient }`, cheap validation on borrow, an `application_name` per pool and a
 * registry entry for health checks. Credentials never appear in errors, logs, metric labels or health output.
 *
 * @since 0.1.0
 */
import type { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import type { DuplicateNameError, EntryStatus } from "@effect-resilience/core/ResilienceRegistry"
import type { TimeoutError } from "@effect-resilience/core/Timeout"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type * as tls from "node:tls"
import type pg from "pg"
import * as errors from "./internal/pgError.js"
import { PgError } from "./internal/pgError.js"
import * as internal from "./internal/pgPool.js"
import type { PoolTimeoutError, Stats } from "./ResourcePool.js"

export {
  /**
   * A PostgreSQL error, or a failure to reach the server, with its SQLSTATE `code` and whether it is worth trying
   * again (`transient`): connection failures (class 08), admin and crash shutdown (57P01, 57P02, 57P03), serialization
   * failures (40001), deadlocks (40P01), too many connections (53300) and lock timeouts (55P03, 55006) are transient.
   * Socket errors get `08001` (while connecting) or `08006` (afterwards), with the system code in `systemCode`.
   * The message, detail and hint are scrubbed of the password.
   *
   * @since 0.1.0
   * @category errors
   */
  PgError
}

/**
 * Whether a SQLSTATE is worth retrying (see `PgError`).
 *
 * @since 0.1.0
 * @category errors
 */
export const isTransientCode: (code: string) => boolean = errors.isTransientCode

/**
 * The service's tag; the service is a `PgPool.Service`.
 *
 * @since 0.1.0
 * @category tags
 */
export class PgPool extends Context.Tag("@effect-resilience/pool/PgPool")<PgPool, PgPool.Service>() {}

/**
 * @since 0.1.0
 */
export declare namespace PgPool {
  /**
   * The pool service.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    /** The pool's name (registry entry, metric label). */
    readonly name: string
    /** The `application_name` of its sessions, to find them in `pg_stat_activity`. */
    readonly applicationName: string
    /**
     * Runs one statement on a pooled connection and returns its rows, typed by the caller. With a timeout (the
     * pool's `queryTimeout` or `options.timeout`), a statement still running is cancelled on the server and the call
     * fails with `TimeoutError { scope: "attempt" }`; an interrupted call cancels it the same way. A bad
     * `options.timeout` (negative, zero, NaN, unparsable) fails with `InvalidOptionsError` naming it.
     */
    readonly query: <Row extends object = Record<string, unknown>>(
      sql: string,
      params?: ReadonlyArray<unknown>,
      options?: PgPool.QueryOptions
    ) => Effect.Effect<ReadonlyArray<Row>, PgError | PoolTimeoutError<PgError> | TimeoutError | InvalidOptionsError>
    /**
     * Borrows one client for the span of `f` (a transaction, a cursor); it goes back whatever the exit, and a
     * client given back inside a transaction (no COMMIT or ROLLBACK) is closed rather than lent again.
     */
    readonly withClient: <A, E, R>(
      f: (client: pg.ClientBase) => Effect.Effect<A, E, R>
    ) => Effect.Effect<A, E | PoolTimeoutError<PgError>, R>
    /** `SELECT 1` through the pool: a health check (`Health.check({ name, check: pg.ping })`). */
    readonly ping: Effect.Effect<void, PgError | PoolTimeoutError<PgError> | TimeoutError>
    /** The pool's figures. */
    readonly stats: Effect.Effect<Stats>
    /** What the registry entry reports: unhealthy while no connection can be opened. */
    readonly status: Effect.Effect<EntryStatus>
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface QueryOptions {
    /** Overrides the pool's `queryTimeout` for this statement. */
    readonly timeout?: Duration.DurationInput | undefined
  }

  /**
   * @since 0.1.0
   * @category models
   */
  export interface Config {
    /** The pool's name; also the default `applicationName`. */
    readonly name: string
    /** `postgres://user:password@host:port/database?...`; wrap it in `Redacted` when it holds a password. */
    readonly url?: string | Redacted.Redacted<string> | undefined
    readonly host?: string | undefined
    readonly port?: number | undefined
    readonly user?: string | undefined
    readonly password?: string | Redacted.Redacted<string> | undefined
    readonly database?: string | undefined
    readonly ssl?: boolean | tls.ConnectionOptions | undefined
    /** The sessions' `application_name`. Default: `name`. */
    readonly applicationName?: string | undefined
    /** Connections kept open when idle. Default 0. */
    readonly min?: number | undefined
    /** Most connections open at once. Default 10. */
    readonly max?: number | undefined
    /** Longest a query waits for a connection, retries of failed connects included. Default 30 seconds. */
    readonly acquireTimeout?: Duration.DurationInput | undefined
    /** Longest one connection attempt may take. Default 10 seconds. */
    readonly connectTimeout?: Duration.DurationInput | undefined
    /** Default per-statement timeout; none by default. */
    readonly queryTimeout?: Duration.DurationInput | undefined
    /**
     * A connection idle at least this long is checked with `SELECT 1` before it is lent out; younger ones are
     * lent at once (no round trip). Default 10 seconds.
     */
    readonly validateAfterIdle?: Duration.DurationInput | undefined
    /** Idle connections beyond `min` are closed after this long. Default 10 minutes. */
    readonly idleTimeout?: Duration.DurationInput | undefined
    /** Connections are replaced once this old. Default 30 minutes. */
    readonly maxLifetime?: Duration.DurationInput | undefined
    /** Warn about a connection borrowed longer than this. Off by default. */
    readonly leakDetection?: Duration.DurationInput | undefined
    /** How long closing the pool waits for borrowed connections. Default 30 seconds. */
    readonly drainTimeout?: Duration.DurationInput | undefined
  }
}

/**
 * Makes a pool in the current scope (closing the scope drains it). A malformed `url` or bad option fails with
 * `InvalidOptionsError` naming the field, the password masked.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  config: PgPool.Config
) => Effect.Effect<PgPool.Service, InvalidOptionsError | DuplicateNameError, Scope.Scope> = internal.make

/**
 * Provides a `PgPool`.
 *
 * @example
 * ```ts
 * import { PgPool } from "@effect-resilience/pool"
 * import { Effect, Redacted } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const db = yield* PgPool.PgPool
 *   const rows = yield* db.query<{ now: Date }>("SELECT now() AS now", [], { timeout: "2 seconds" })
 *   return rows[0]?.now
 * })
 *
 * const main = program.pipe(
 *   Effect.provide(PgPool.layer({ name: "orders-db", url: Redacted.make("postgres://postgres@127.0.0.1:5432/test") }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (config: PgPool.Config) => Layer.Layer<PgPool, InvalidOptionsError | DuplicateNameError> =
  internal.layer

/**
 * Provides a `PgPool` from `effect/Config`.
 *
 * @example
 * ```ts
 * import { OptionsValidator } from "@effect-resilience/core"
 * import { PgPool } from "@effect-resilience/pool"
 * import { Config, Duration } from "effect"
 *
 * // OptionsValidator's readers refuse an empty or negative value naming the variable (Config.integer and
 * // Config.duration read them as 0).
 * const DbLive = PgPool.layerConfig({
 *   name: Config.succeed("orders-db"),
 *   url: Config.redacted("DATABASE_URL"),
 *   max: OptionsValidator.configInteger("DATABASE_POOL_MAX", { min: 1 }).pipe(Config.withDefault(10)),
 *   queryTimeout: OptionsValidator.configDuration("DATABASE_QUERY_TIMEOUT", { positive: true }).pipe(
 *     Config.withDefault(Duration.seconds(5))
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (
  config: Config.Config.Wrap<PgPool.Config>
) => Layer.Layer<PgPool, ConfigError.ConfigError | InvalidOptionsError | DuplicateNameError> = internal.layerConfig
