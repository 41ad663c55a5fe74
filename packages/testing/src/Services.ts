/**
 * Finds out whether the local PostgreSQL and Redis answer, so integration tests can skip with a clear line
 * when they are absent, and fail when `CI=true` (CI must run them).
 *
 * @since 0.1.0
 */
import * as net from "node:net"

/**
 * A service an integration test needs.
 *
 * @since 0.1.0
 * @category models
 */
export interface ServiceInfo {
  readonly name: "PostgreSQL" | "Redis"
  readonly host: string
  readonly port: number
  /** A loopback URL to connect to. */
  readonly url: string
  readonly available: boolean
  /** Why it is not available, when it is not. */
  readonly reason?: string
}

/**
 * `true` when the tests run in CI (`CI=true`), where every integration test must run.
 *
 * @since 0.1.0
 * @category constants
 */
export const isCI: boolean = process.env.CI === "true" || process.env.CI === "1"

/**
 * Opens a TCP connection and closes it: `undefined` when something answers, otherwise why not.
 *
 * @since 0.1.0
 * @category utils
 */
export const probe = (host: string, port: number, timeoutMillis: number): Promise<string | undefined> =>
  new Promise((resolve) => {
    const socket = net.connect({ host, port })
    const done = (reason: string | undefined) => {
      socket.removeAllListeners()
      socket.destroy()
      resolve(reason)
    }
    socket.setTimeout(timeoutMillis, () => done(`no answer from ${host}:${port} within ${timeoutMillis} ms`))
    socket.once("connect", () => done(undefined))
    socket.once("error", (error) => done(`${host}:${port}: ${error.message}`))
  })

const check = async (
  name: ServiceInfo["name"],
  host: string,
  port: number,
  url: string
): Promise<ServiceInfo> => {
  const reason = await probe(host, port, 1_000)
  if (reason === undefined) return { name, host, port, url, available: true }
  const message = `${name} is not reachable (${reason})`
  if (isCI) {
    throw new Error(`${message}: CI=true requires it, so the integration tests fail instead of skipping`)
  }
  console.warn(`[skip] ${message}: skipping the tests that need it (set CI=true to make this an error)`)
  return { name, host, port, url, available: false, reason: message }
}

/**
 * PostgreSQL on 127.0.0.1:5432, user `postgres`, database `test`.
 *
 * @since 0.1.0
 * @category services
 */
export const postgres = (): Promise<ServiceInfo> =>
  check("PostgreSQL", "127.0.0.1", 5432, "postgres://postgres@127.0.0.1:5432/test")

/**
 * Redis on 127.0.0.1:6379.
 *
 * @since 0.1.0
 * @category services
 */
export const redis = (): Promise<ServiceInfo> => check("Redis", "127.0.0.1", 6379, "redis://127.0.0.1:6379")

/**
 * A prefix unique to this process and call, for Redis keys and PostgreSQL `application_name`s: the servers are
 * shared by parallel test files, so each test counts only its own.
 *
 * @since 0.1.0
 * @category utils
 */
export const uniquePrefix = (label: string): string =>
  `er-test-${label}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`
