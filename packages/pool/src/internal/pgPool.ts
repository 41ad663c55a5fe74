import { Timeout } from "@effect-resilience/core"
import { InvalidOptionsError } from "@effect-resilience/core/InvalidOptionsError"
import { type OptionsValidator, validated } from "@effect-resilience/core/OptionsValidator"
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
import * as pgPoolTask from "./pgPoolTask.js"
import * as resourcePool from "./resourcePool.js"

/** A pooled connection and what the pool knows about it. */
interface Conn {
  readonly client: pg.Client
  /** The socket failed, the server ended the session, or a cancel may still land: never lend it again. */
  broken: boolean
  /** Already reported to the pool as broken. */
  evicted: boolean
  /** The pool is closing it. */
  closing: boolean
  /** A statement is running (or its cancel is still in flight). */
  busy: boolean
  /** Called once when the running statement ends. */
  onIdle: (() => void) | undefined
  /** CancelRequests sent and not yet known to be processed by the server. */
  cancels: number
  /** A cancel was sent during the current statement. */
  cancelSent: boolean
  /** Called once when the last cancel in flight is settled. */
  onCancelsDone: (() => void) | undefined
}

const noParams: ReadonlyArray<unknown> = []

/** The longest delay a Node timer honours (a longer one fires after 1 ms). */
const maxTimerMillis = 2_147_483_647

/**
 * How long a statement may run on after its cancel before the connection is given up (destroyed): a cancel
 * normally stops a statement within milliseconds; longer means the network or the server is stuck.
 */
const cancelGraceMillis = 2_000

/** How long the server may take to confirm (by closing the socket) that it processed a CancelRequest. */
const cancelConfirmMillis = 2_000

/** How long a graceful close (Terminate) may take before the socket is destroyed. */
const closeGraceMillis = 1_000

/**
 * A URL with its credentials masked, however malformed: everything between the scheme's `//` (or the start) and
 * the last `@` is the user info, and the part after the user name's `:` is the password. Known secrets are masked
 * wherever else they occur.
 *
 * @internal
 */
export const redactUrl = (url: string, secrets: ReadonlyArray<string> = []): string => {
  let out = url
  const at = url.lastIndexOf("@")
  if (at >= 0) {
    const slashes = url.indexOf("//")
    const from = slashes >= 0 && slashes < at ? slashes + 2 : 0
    const colon = url.indexOf(":", from)
    out = colon >= 0 && colon < at
      ? url.slice(0, colon) + ":***" + url.slice(at)
      : url.slice(0, from) + "***" + url.slice(at)
  }
  for (const secret of secrets) if (secret.length > 0) out = out.split(secret).join("***")
  return out
}

const safeDecode = (text: string): string | undefined => {
  try {
    return decodeURIComponent(text)
  } catch {
    return undefined
  }
}

/** A string option that may be `Redacted`; a wrong type is refused without showing what a `Redacted` holds. */
const secretString = (
  v: OptionsValidator,
  field: string,
  value: string | Redacted.Redacted<string> | undefined
): string | undefined => {
  if (value === undefined || typeof value === "string") return value
  if (Redacted.isRedacted(value)) {
    const inner: unknown = Redacted.value(value)
    if (typeof inner === "string") return inner
    return v.fail(field, "<redacted>", "a string or a Redacted string")
  }
  return v.fail(field, value, "a string or a Redacted string")
}

/**
 * A positive finite duration for a Node timer, in milliseconds; `undefined` (no timer) beyond what a timer can
 * honour (2^31 - 1 ms, about 24.8 days), where Node would fire it after 1 ms instead.
 */
const timerMillis = (v: OptionsValidator, field: string, input: Duration.DurationInput): number | undefined => {
  const millis = Duration.toMillis(v.duration(field, input, { positive: true, finite: true }))
  return millis > maxTimerMillis ? undefined : Math.max(1, Math.round(millis))
}

/** Whether a node-postgres client is gone for good (its own flags, read defensively). */
const unusable = (client: pg.Client): boolean => {
  const flags = client as unknown as { readonly _queryable?: unknown; readonly _ending?: unknown }
  return flags._queryable === false || flags._ending === true
}

/** node-postgres's own fields this module reads: the socket, and whether a statement is active or queued. */
interface ClientInternals {
  readonly connection?: { readonly stream?: { destroy(): void } }
  readonly _activeQuery?: unknown
  readonly _queryQueue?: ReadonlyArray<unknown>
  readonly _ended?: unknown
}

/** Whether statements are running or queued on a client (used through `withClient`, outside the pool's view). */
const hasActiveQuery = (client: pg.Client): boolean => {
  const c = client as unknown as ClientInternals
  return (c._activeQuery !== null && c._activeQuery !== undefined) || (c._queryQueue?.length ?? 0) > 0
}

/** Destroys the client's socket at once: its queries fail, its "end" event follows. */
const destroySocket = (client: pg.Client): void => {
  ;(client as unknown as ClientInternals).connection?.stream?.destroy()
}

/** @internal */
export const make = (
  config: PgPool.PgPool.Config
): Effect.Effect<PgPool.PgPool.Service, InvalidOptionsError | ResilienceRegistry.DuplicateNameError, Scope.Scope> =>
  Effect.gen(function*() {
    const { password, url } = yield* validated("PgPool.make", (v) => {
      const given: unknown = config
      if (typeof given !== "object" || given === null || Array.isArray(given)) {
        v.fail("options", given, "an options object")
      }
      return { url: secretString(v, "url", config.url), password: secretString(v, "password", config.password) }
    })
    const secrets: Array<string> = []
    if (password !== undefined && password.length > 0) secrets.push(password, encodeURIComponent(password))
    if (url !== undefined) {
      // The URL's credentials never show: malformed or not, it is reported masked.
      const refuse = (expected: string) =>
        new InvalidOptionsError({
          constructorName: "PgPool.make",
          field: "url",
          value: redactUrl(url, secrets),
          expected
        })
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
        return yield* refuse("a postgres:// or postgresql:// URL with a host")
      }
      if (parsed.password !== "") {
        secrets.push(parsed.password)
        const decoded = safeDecode(parsed.password)
        if (decoded !== undefined) secrets.push(decoded)
      }
      if (
        safeDecode(parsed.username) === undefined || safeDecode(parsed.password) === undefined ||
        safeDecode(parsed.hostname) === undefined || safeDecode(parsed.pathname) === undefined
      ) {
        return yield* refuse("a URL whose %-escapes are valid (user, password, host and database percent-encoded)")
      }
    }
    const options = yield* validated("PgPool.make", (v) => {
      const name = v.nonEmpty("name", config.name)
      const queryTimeoutMillis = config.queryTimeout === undefined
        ? undefined
        : timerMillis(v, "queryTimeout", config.queryTimeout)
      const connectTimeoutMillis = config.connectTimeout === undefined
        ? 10_000
        : timerMillis(v, "connectTimeout", config.connectTimeout)
      const validateAfterIdle = config.validateAfterIdle === undefined
        ? Duration.seconds(10)
        : v.duration("validateAfterIdle", config.validateAfterIdle)
      const applicationName = config.applicationName === undefined
        ? name
        : v.nonEmpty("applicationName", config.applicationName)
      if (config.port !== undefined) v.int("port", config.port, 1, 65535)
      for (const field of ["host", "user", "database"] as const) {
        const value: unknown = config[field]
        if (value !== undefined && typeof value !== "string") v.fail(field, value, "a string")
      }
      const ssl: unknown = config.ssl
      if (ssl !== undefined && typeof ssl !== "boolean" && (typeof ssl !== "object" || ssl === null)) {
        v.fail("ssl", ssl, "a boolean or TLS connection options")
      }
      return { name, queryTimeoutMillis, connectTimeoutMillis, validateAfterIdle, applicationName }
    })
    const { applicationName, connectTimeoutMillis, name, queryTimeoutMillis } = options

    const clientConfig: pg.ClientConfig = {
      application_name: applicationName,
      // 0: node-postgres's "no timeout", for a timeout beyond a timer's reach.
      connectionTimeoutMillis: connectTimeoutMillis ?? 0
    }
    if (url !== undefined) clientConfig.connectionString = url
    if (config.host !== undefined) clientConfig.host = config.host
    if (config.port !== undefined) clientConfig.port = config.port
    if (config.user !== undefined) clientConfig.user = config.user
    if (password !== undefined) clientConfig.password = password
    if (config.database !== undefined) clientConfig.database = config.database
    if (config.ssl !== undefined) clientConfig.ssl = config.ssl
    // node-postgres parses the connection string in its constructor: what it refuses is refused here, typed.
    try {
      new pg.Client(clientConfig)
    } catch {
      return yield* new InvalidOptionsError({
        constructorName: "PgPool.make",
        field: url !== undefined ? "url" : "options",
        value: url !== undefined ? redactUrl(url, secrets) : "(connection options)",
        expected: "connection options node-postgres accepts"
      })
    }

    let evict: (conn: Conn) => void = () => {}
    const toError = (error: unknown, connecting: boolean) => fromUnknown(error, secrets, connecting)

    /** Never lend `conn` again: marked broken, and reported to the pool once (synchronously, before any release). */
    const discard = (conn: Conn): void => {
      conn.broken = true
      if (conn.evicted || conn.closing) return
      conn.evicted = true
      evict(conn)
    }

    /**
     * Sends PostgreSQL's CancelRequest for the statement running on `conn`'s session over a new socket, as libpq's
     * PQcancel does: no authentication, no pooled connection spent. The server closes that socket once it has
     * signalled the session, so until then the cancel may still land: `conn.cancels` counts the ones in flight, and
     * a cancel whose fate is unknown (no answer, a reset) makes the connection unfit to lend.
     */
    const sendCancel = (conn: Conn): void => {
      const client = conn.client
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
      conn.cancels++
      conn.cancelSent = true
      let connected = false
      let settled = false
      const finish = (processed: boolean) => {
        if (settled) return
        settled = true
        socket.destroy()
        // Refused before it was sent: nothing can land. Sent without an answer: it might, later.
        if (!processed) discard(conn)
        conn.cancels--
        const done = conn.onCancelsDone
        if (conn.cancels === 0 && done !== undefined) {
          conn.onCancelsDone = undefined
          done()
        }
      }
      socket.setTimeout(cancelConfirmMillis, () => finish(false))
      socket.once("error", () => finish(!connected))
      socket.once("close", () => finish(true))
      socket.once("connect", () => {
        connected = true
        socket.end(message)
      })
    }

    const runFork = Runtime.runFork(yield* Effect.runtime<never>())

    /**
     * Closes a client without waiting for it: a statement still running is cancelled on the server first (closing
     * the socket alone would leave it running there), then a Terminate is sent; a graceful close not done within a
     * second (a stalled network) becomes a destroyed socket, in the background. Effect's pool closes its resources
     * one after the other at shutdown, so waiting here would add a second per connection to every stalled close.
     */
    const endClient = (conn: Conn): Effect.Effect<void> =>
      Effect.sync(() => {
        const client = conn.client
        if (conn.busy || hasActiveQuery(client)) sendCancel(conn)
        if ((client as unknown as ClientInternals)._ended === true) return
        let ended = false
        client.end(() => {
          ended = true
        })
        runFork(
          Effect.sleep(closeGraceMillis).pipe(Effect.andThen(() => {
            if (!ended) destroySocket(client)
          }))
        )
      })

    // Clients still connecting, and whether the pool is closing: a connect stuck on a stalled network would hold the
    // pool's shutdown for the whole connectTimeout, so closing ends them at once.
    const connecting = new Set<pg.Client>()
    let shuttingDown = false

    // The connect is interruptible (an acquireRelease's acquire is not): Effect's pool interrupts a creation in
    // progress when it shuts down, and a connect stuck on a stalled network must not hold that for connectTimeout.
    const connectClient = Effect.async<Conn, PgError>((resume) => {
      if (shuttingDown) {
        return resume(Effect.fail(new PgError({ code: "08001", transient: true, message: "the pool is closing" })))
      }
      let client: pg.Client
      try {
        client = new pg.Client(clientConfig)
      } catch (error) {
        // A configuration node-postgres refuses: a typed, scrubbed error, not a defect carrying the raw text.
        return resume(Effect.fail(toError(error, true)))
      }
      const conn: Conn = {
        client,
        broken: false,
        evicted: false,
        closing: false,
        busy: false,
        onIdle: undefined,
        cancels: 0,
        cancelSent: false,
        onCancelsDone: undefined
      }
      // An idle client whose session dies emits "error": without a listener that would crash the process. A
      // session that dies mid-statement reports it twice (the statement's error, then "end"): either evicts it.
      const onLost = () => {
        if (connected) discard(conn)
        else conn.broken = true
      }
      let connected = false
      client.on("error", onLost)
      client.on("end", onLost)
      connecting.add(client)
      client.connect((error: Error | null) => {
        connecting.delete(client)
        if (error) {
          client.end(() => {})
          resume(Effect.fail(toError(error, true)))
        } else {
          connected = true
          resume(Effect.succeed(conn))
        }
      })
      return Effect.sync(() => {
        connecting.delete(client)
        destroySocket(client)
      })
    })
    const connect: Effect.Effect<Conn, PgError, Scope.Scope> = Effect.uninterruptibleMask((restore) =>
      Effect.tap(restore(connectClient), (conn) =>
        Effect.addFinalizer(() =>
          Effect.suspend(() => {
            conn.closing = true
            return endClient(conn)
          })
        ))
    )

    // A statement as a pool task: started by callback on the connection, so waiting for a connection and running
    // the statement cost the caller one suspension, as with node-postgres's own pool. State lives in the instance:
    // no closures per query beyond node-postgres's callback.
    class QueryTask<Row> implements pgPoolTask.Task<Conn, ReadonlyArray<Row>, PgError | Timeout.TimeoutError> {
      timedOut = false
      /** Given up on after its cancel had no effect: the connection was destroyed. */
      abandoned = false
      timer: ReturnType<typeof setTimeout> | undefined = undefined
      constructor(
        readonly sql: string,
        readonly params: ReadonlyArray<unknown> | undefined,
        readonly timeoutMillis: number | undefined
      ) {}
      start(conn: Conn, run: pgPoolTask.TaskDone<ReadonlyArray<Row>, PgError | Timeout.TimeoutError>) {
        conn.busy = true
        conn.cancelSent = false
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
        run: pgPoolTask.TaskDone<ReadonlyArray<Row>, PgError | Timeout.TimeoutError>,
        error: Error | null,
        result: pg.QueryResult
      ) {
        if (this.timer !== undefined) clearTimeout(this.timer)
        this.timer = undefined
        let outcome: Effect.Effect<ReadonlyArray<Row>, PgError | Timeout.TimeoutError>
        if (error === null) {
          outcome = Effect.succeed(result.rows as ReadonlyArray<Row>)
          // Ended by itself although a cancel was sent: that cancel may still hit the next statement.
          if (conn.cancelSent) discard(conn)
        } else {
          const pgError = toError(error, false)
          if (conn.cancelSent && pgError.code !== "57014") discard(conn)
          if (isConnectionCode(pgError.code) || unusable(conn.client)) discard(conn)
          outcome = this.timedOut && (this.abandoned || pgError.code === "57014" || !isConnectionCode(pgError.code))
            ? Effect.fail(
              new Timeout.TimeoutError({ duration: Duration.millis(this.timeoutMillis!), scope: "attempt" })
            )
            : Effect.fail(pgError)
        }
        // The connection is lent again only once no cancel of ours can still reach its session.
        if (conn.cancels > 0) conn.onCancelsDone = () => this.finish(conn, run, outcome)
        else this.finish(conn, run, outcome)
      }
      finish(
        conn: Conn,
        run: pgPoolTask.TaskDone<ReadonlyArray<Row>, PgError | Timeout.TimeoutError>,
        outcome: Effect.Effect<ReadonlyArray<Row>, PgError | Timeout.TimeoutError>
      ) {
        conn.busy = false
        conn.cancelSent = false
        const onIdle = conn.onIdle
        if (onIdle !== undefined) {
          conn.onIdle = undefined
          onIdle()
        }
        run.done(outcome)
      }
      expire(conn: Conn) {
        this.timer = undefined
        if (!conn.busy) return
        this.timedOut = true
        sendCancel(conn)
        // A statement the cancel does not stop (a stalled network, a stuck server): the connection is destroyed,
        // which ends the statement here with a TimeoutError.
        // eslint-disable-next-line no-restricted-syntax
        this.timer = setTimeout(() => this.abandon(conn), cancelGraceMillis)
      }
      abandon(conn: Conn) {
        this.timer = undefined
        this.abandoned = true
        discard(conn)
        destroySocket(conn.client)
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
     * it to stop (and for the cancel to be processed), so the connection goes back idle; when it does not stop
     * within the grace period, the connection is destroyed and never lent again.
     */
    const stopStatement = (conn: Conn): Effect.Effect<void> | undefined => {
      if (!conn.busy) return undefined
      if (!conn.cancelSent) sendCancel(conn)
      // Interruptible: this runs in uninterruptible regions (a borrower's release), where a timeout could not end an
      // uninterruptible wait.
      return Effect.interruptible(Effect.async<void>((resume) => {
        if (!conn.busy) resume(Effect.void)
        else conn.onIdle = () => resume(Effect.void)
      })).pipe(
        Effect.timeoutTo({
          duration: cancelGraceMillis,
          onSuccess: () => Effect.void,
          onTimeout: () =>
            Effect.sync(() => {
              conn.onIdle = undefined
              discard(conn)
              destroySocket(conn.client)
            })
        }),
        Effect.flatten
      )
    }

    const ping = (conn: Conn): Effect.Effect<boolean> =>
      conn.broken || unusable(conn.client)
        ? Effect.succeed(false)
        : runQuery(conn, "SELECT 1", undefined, Math.min(5_000, connectTimeoutMillis ?? 5_000)).pipe(
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
    }, "PgPool.make")

    // Runs first when the scope closes (before the pool's drain): connects still in progress serve nobody now.
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        shuttingDown = true
        for (const client of connecting) destroySocket(client)
        connecting.clear()
      })
    )

    const withConn = <A, E, R>(
      f: (conn: Conn) => Effect.Effect<A, E, R>
    ): Effect.Effect<A, E | ResourcePool.PoolTimeoutError<PgError>, R> => pool.useWith(f, stopStatement)

    // A session that dies (server restart, pg_terminate_backend, network) is evicted as soon as its client says so,
    // idle or borrowed, so the next borrow gets a live one.
    evict = (conn) => pool.invalidateNow(conn)

    // Queries borrow through PgPool's own lending protocol: the borrow and the query share one suspension.
    const runTask = pgPoolTask.makeRunTask(pool.lending, (f, onFailure) => pool.useWith(f, onFailure))

    const pooledQuery = <Row extends object>(
      sql: string,
      params: ReadonlyArray<unknown> | undefined,
      timeoutMillis: number | undefined
    ): Effect.Effect<ReadonlyArray<Row>, PgError | ResourcePool.PoolTimeoutError<PgError> | Timeout.TimeoutError> =>
      runTask(() => new QueryTask<Row>(sql, params, timeoutMillis))

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
        validated("PgPool.query", (v) => {
          const millis = Duration.toMillis(v.duration("timeout", timeout, { positive: true }))
          // Infinity, or beyond what a Node timer honours (it would fire at once): no timer.
          return millis > maxTimerMillis ? undefined : millis
        }),
        (millis) => pooledQuery<Row>(sql, params, millis)
      )
    }

    const withClient = <A, E, R>(
      f: (client: pg.ClientBase) => Effect.Effect<A, E, R>
    ): Effect.Effect<A, E | ResourcePool.PoolTimeoutError<PgError>, R> =>
      withConn((conn) =>
        Effect.ensuring(
          f(conn.client),
          Effect.sync(() => {
            if (hasActiveQuery(conn.client)) {
              // A statement still running (an interrupted caller, a query not awaited): cancelled on the server, and
              // the connection closed rather than lent busy.
              sendCancel(conn)
              discard(conn)
            } else if (conn.client.getTransactionStatus() !== "I") {
              // Given back inside a transaction (a missing COMMIT, an interrupted caller): closed, never lent again.
              discard(conn)
            }
          })
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
