import { Timeout } from "@effect-resilience/core"
import { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import { validated } from "@effect-resilience/core/OptionsValidator"
import type * as ResilienceRegistry from "@effect-resilience/core/ResilienceRegistry"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import type * as Scope from "effect/Scope"
import * as net from "node:net"
import pg from "pg"
import * as PgPool from "../PgPool.js"
import type * as ResourcePool from "../ResourcePool.js"
import { fromUnknown, isConnectionCode, PgError } from "./pgError.js"
import * as resourcePool from "./resourcePool.js"

/** A pooled connection and what the pool knows about it. */
interface Conn {
  readonly client: pg.Client
  /** The socket failed or the server ended the session: never lend it again. */
  broken: boolean
  /** The pool is closing it. */
  closing: boolean
  /** A statement is running. */
  busy: boolean
  /** Called once when the running statement ends. */
  onIdle: (() => void) | undefined
}

const noParams: ReadonlyArray<unknown> = []

const reveal = (value: string | Redacted.Redacted<string> | undefined): string | undefined =>
  value === undefined ? undefined : Redacted.isRedacted(value) ? Redacted.value(value) : value

const maskUrl = (url: string): string => url.replace(/(\/\/[^:/?#@\s]*):[^@/\s]*@/, "$1:***@")

/** Whether a node-postgres client is gone for good (its own flags, read defensively). */
const unusable = (client: pg.Client): boolean => {
  const flags = client as unknown as { readonly _queryable?: unknown; readonly _ending?: unknown }
  return flags._queryable === false || flags._ending === true
}

/**
 * Sends PostgreSQL's CancelRequest for the statement running on `client`'s session over a new socket, as libpq's
 * PQcancel does: no authentication, no pooled connection spent.
 */
const sendCancel = (client: pg.Client): void => {
  const keys = client as unknown as { readonly processID?: unknown; readonly secretKey?: unknown }
  if (typeof keys.processID !== "number" || typeof keys.secretKey !== "number") return
  const message = Buffer.alloc(16)
  message.writeInt32BE(16, 0)
  message.writeInt32BE(80877102, 4)
  message.writeInt32BE(keys.processID, 8)
  message.writeInt32BE(keys.secretKey, 12)
  const host = client.host
  const socket = host.startsWith("/")
    ? net.connect(`${host}/.s.PGSQL.${client.port}`)
    : net.connect(client.port, host)
  socket.setTimeout(5_000, () => socket.destroy())
  socket.once("error", () => socket.destroy())
  socket.once("connect", () => socket.end(message))
}

/** @internal */
export const make = (
  config: PgPool.PgPool.Config
): Effect.Effect<PgPool.PgPool.Service, InvalidOptionsError | ResilienceRegistry.DuplicateNameError, Scope.Scope> =>
  Effect.gen(function*() {
    const url = reveal(config.url)
    const password = reveal(config.password)
    const secrets: Array<string> = []
    if (password !== undefined) secrets.push(password)
    if (url !== undefined) {
      let parsed: URL | undefined
      try {
        parsed = new URL(url)
      } catch {
        parsed = undefined
      }
      if (
        parsed === undefined || (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") ||
        (parsed.hostname === "" && !parsed.searchParams.has("host"))
      ) {
        return yield* new InvalidOptionsError({
          constructorName: "PgPool.make",
          field: "url",
          value: maskUrl(url),
          expected: "a postgres:// or postgresql:// URL with a host"
        })
      }
      if (parsed.password !== "") secrets.push(parsed.password, decodeURIComponent(parsed.password))
    }
    const options = yield* validated("PgPool.make", (v) => {
      const name = v.nonEmpty("name", config.name)
      const queryTimeout = config.queryTimeout === undefined
        ? undefined
        : v.duration("queryTimeout", config.queryTimeout, { positive: true, finite: true })
      const connectTimeout = v.duration("connectTimeout", config.connectTimeout ?? "10 seconds", {
        positive: true,
        finite: true
      })
      const validateAfterIdle = v.duration("validateAfterIdle", config.validateAfterIdle ?? "10 seconds")
      const applicationName = config.applicationName ?? name
      if (applicationName.length === 0) v.fail("applicationName", applicationName, "a non-empty string")
      if (config.port !== undefined) v.int("port", config.port, 1, 65535)
      return { name, queryTimeout, connectTimeout, validateAfterIdle, applicationName }
    })
    const { applicationName, name } = options
    const queryTimeoutMillis = options.queryTimeout === undefined ? undefined : Duration.toMillis(options.queryTimeout)

    const clientConfig: pg.ClientConfig = {
      application_name: applicationName,
      connectionTimeoutMillis: Math.max(1, Math.round(Duration.toMillis(options.connectTimeout)))
    }
    if (url !== undefined) clientConfig.connectionString = url
    if (config.host !== undefined) clientConfig.host = config.host
    if (config.port !== undefined) clientConfig.port = config.port
    if (config.user !== undefined) clientConfig.user = config.user
    if (password !== undefined) clientConfig.password = password
    if (config.database !== undefined) clientConfig.database = config.database
    if (config.ssl !== undefined) clientConfig.ssl = config.ssl

    let evict: (conn: Conn) => void = () => {}
    const toError = (error: unknown, connecting: boolean) => fromUnknown(error, secrets, connecting)

    const endClient = (client: pg.Client): Effect.Effect<void> =>
      Effect.async<void>((resume) => {
        client.end(() => resume(Effect.void))
      }).pipe(Effect.timeoutTo({ duration: "5 seconds", onSuccess: () => undefined, onTimeout: () => undefined }))

    const connect: Effect.Effect<Conn, PgError, Scope.Scope> = Effect.acquireRelease(
      Effect.async<Conn, PgError>((resume) => {
        let client: pg.Client
        try {
          client = new pg.Client(clientConfig)
        } catch (error) {
          // A configuration node-postgres refuses: a typed, scrubbed error, not a defect carrying the raw text.
          return resume(Effect.fail(toError(error, true)))
        }
        const conn: Conn = { client, broken: false, closing: false, busy: false, onIdle: undefined }
        // An idle client whose session dies emits "error": without a listener that would crash the process.
        const onLost = () => {
          if (conn.broken) return
          conn.broken = true
          if (connected && !conn.closing) evict(conn)
        }
        let connected = false
        client.on("error", onLost)
        client.on("end", onLost)
        client.connect((error: Error | null) => {
          if (error) {
            client.end(() => {})
            resume(Effect.fail(toError(error, true)))
          } else {
            connected = true
            resume(Effect.succeed(conn))
          }
        })
        return Effect.sync(() => void client.end(() => {}))
      }),
      (conn) =>
        Effect.suspend(() => {
          conn.closing = true
          return endClient(conn.client)
        })
    )

    // A statement as a pool task: started by callback on the connection, so waiting for a connection and running
    // the statement cost the caller one suspension, as with node-postgres's own pool. State lives in the instance:
    // no closures per query beyond node-postgres's callback.
    class QueryTask<Row> implements resourcePool.Task<Conn, ReadonlyArray<Row>, PgError | Timeout.TimeoutError> {
      timedOut = false
      timer: ReturnType<typeof setTimeout> | undefined = undefined
      constructor(
        readonly sql: string,
        readonly params: ReadonlyArray<unknown> | undefined,
        readonly timeoutMillis: number | undefined
      ) {}
      start(conn: Conn, run: resourcePool.TaskDone<ReadonlyArray<Row>, PgError | Timeout.TimeoutError>) {
        conn.busy = true
        conn.client.query(
          this.sql,
          (this.params ?? noParams) as Array<unknown>,
          (error: Error | null, result: pg.QueryResult) => this.settle(conn, run, error, result)
        )
        if (this.timeoutMillis !== undefined) {
          // A raw timer: this is the measured hot path of real I/O, and an Effect timer costs a fiber per query.
          // eslint-disable-next-line no-restricted-syntax
          this.timer = setTimeout(() => this.expire(conn), this.timeoutMillis)
        }
      }
      settle(
        conn: Conn,
        run: resourcePool.TaskDone<ReadonlyArray<Row>, PgError | Timeout.TimeoutError>,
        error: Error | null,
        result: pg.QueryResult
      ) {
        conn.busy = false
        if (this.timer !== undefined) clearTimeout(this.timer)
        const onIdle = conn.onIdle
        if (onIdle !== undefined) {
          conn.onIdle = undefined
          onIdle()
        }
        if (error === null) return run.done(Effect.succeed(result.rows as ReadonlyArray<Row>))
        const pgError = toError(error, false)
        if (this.timedOut && (pgError.code === "57014" || !isConnectionCode(pgError.code))) {
          return run.done(
            Effect.fail(new Timeout.TimeoutError({ duration: Duration.millis(this.timeoutMillis!), scope: "attempt" }))
          )
        }
        if (isConnectionCode(pgError.code) || unusable(conn.client)) conn.broken = true
        run.done(Effect.fail(pgError))
      }
      expire(conn: Conn) {
        this.timer = undefined
        if (!conn.busy) return
        this.timedOut = true
        sendCancel(conn.client)
      }
      stop(conn: Conn) {
        return stopStatement(conn) ?? Effect.void
      }
    }

    const runQuery = <Row>(
      conn: Conn,
      sql: string,
      params: ReadonlyArray<unknown> | undefined,
      timeoutMillis: number | undefined
    ): Effect.Effect<ReadonlyArray<Row>, PgError | Timeout.TimeoutError> =>
      Effect.async((resume) => new QueryTask<Row>(sql, params, timeoutMillis).start(conn, { done: resume }))

    /**
     * A borrower failed or was interrupted with its statement still running: cancel it on the server and wait for
     * it to stop, so the connection goes back idle; when it does not stop within 5 seconds, close the connection.
     */
    const stopStatement = (conn: Conn): Effect.Effect<void> | undefined => {
      if (!conn.busy) return undefined
      sendCancel(conn.client)
      return Effect.async<void>((resume) => {
        if (!conn.busy) resume(Effect.void)
        else conn.onIdle = () => resume(Effect.void)
      }).pipe(
        Effect.timeoutTo({
          duration: "5 seconds",
          onSuccess: () => Effect.void,
          onTimeout: () =>
            Effect.suspend(() => {
              conn.onIdle = undefined
              conn.broken = true
              return Effect.zipRight(endClient(conn.client), pool.invalidate(conn))
            })
        }),
        Effect.flatten
      )
    }

    const ping = (conn: Conn): Effect.Effect<boolean> =>
      conn.broken || unusable(conn.client)
        ? Effect.succeed(false)
        : runQuery(conn, "SELECT 1", undefined, Math.min(5_000, Duration.toMillis(options.connectTimeout))).pipe(
          Effect.as(true),
          Effect.orElseSucceed(() => false)
        )

    const pool = yield* resourcePool.make<Conn, PgError, Scope.Scope>({
      name,
      acquire: connect,
      min: config.min,
      max: config.max,
      acquireTimeout: config.acquireTimeout,
      maxLifetime: config.maxLifetime,
      idleTimeout: config.idleTimeout,
      leakDetection: config.leakDetection,
      drainTimeout: config.drainTimeout,
      validate: ping,
      validateOnBorrow: options.validateAfterIdle
    })

    const withConn = <A, E, R>(
      f: (conn: Conn) => Effect.Effect<A, E, R>
    ): Effect.Effect<A, E | ResourcePool.PoolTimeoutError<PgError>, R> => pool.useWith(f, stopStatement)

    // A session that dies (server restart, pg_terminate_backend, network) is evicted as soon as its client says so,
    // idle or borrowed, so the next borrow gets a live one.
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    evict = (conn) => void runFork(pool.invalidate(conn))

    const pooledQuery = <Row extends object>(
      sql: string,
      params: ReadonlyArray<unknown> | undefined,
      timeoutMillis: number | undefined
    ): Effect.Effect<ReadonlyArray<Row>, PgError | ResourcePool.PoolTimeoutError<PgError> | Timeout.TimeoutError> =>
      pool.runTask(() => new QueryTask<Row>(sql, params, timeoutMillis))

    const query = <Row extends object = Record<string, unknown>>(
      sql: string,
      params?: ReadonlyArray<unknown>,
      queryOptions?: PgPool.PgPool.QueryOptions
    ): Effect.Effect<
      ReadonlyArray<Row>,
      PgError | ResourcePool.PoolTimeoutError<PgError> | Timeout.TimeoutError | InvalidOptionsError
    > => {
      const timeout = queryOptions?.timeout
      if (timeout === undefined) return pooledQuery<Row>(sql, params, queryTimeoutMillis)
      // A per-query timeout comes from the caller: a bad one is a typed error naming it, not a thrown exception.
      return Effect.flatMap(
        validated("PgPool.query", (v) => Duration.toMillis(v.duration("timeout", timeout, { positive: true }))),
        (millis) => pooledQuery<Row>(sql, params, millis)
      )
    }

    const withClient = <A, E, R>(
      f: (client: pg.ClientBase) => Effect.Effect<A, E, R>
    ): Effect.Effect<A, E | ResourcePool.PoolTimeoutError<PgError>, R> =>
      withConn((conn) =>
        Effect.ensuring(
          f(conn.client),
          // Given back inside a transaction (a missing COMMIT, an interrupted caller): closed, never lent again.
          Effect.suspend(() => conn.client.getTransactionStatus() === "I" ? Effect.void : pool.invalidate(conn))
        )
      )

    const service: PgPool.PgPool.Service = {
      name,
      applicationName,
      query,
      withClient,
      ping: Effect.asVoid(pooledQuery("SELECT 1", undefined, 5_000)),
      stats: pool.stats,
      status: pool.status
    }
    return service
  })

/** @internal */
export const layer = (
  config: PgPool.PgPool.Config
): Layer.Layer<PgPool.PgPool, InvalidOptionsError | ResilienceRegistry.DuplicateNameError> =>
  Layer.scoped(PgPool.PgPool, make(config))

/** @internal */
export const layerConfig = (
  config: Config.Config.Wrap<PgPool.PgPool.Config>
): Layer.Layer<PgPool.PgPool, ConfigError.ConfigError | InvalidOptionsError | ResilienceRegistry.DuplicateNameError> =>
  Layer.scoped(PgPool.PgPool, Effect.flatMap(Config.unwrap(config), make))

export { PgError }
