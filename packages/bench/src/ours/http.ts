/**
 * Our side of scenario 8: `ResilientHttpClient.make` with default options around the plain client (per host: a
 * breaker, a bulkhead of 100, a retry budget; 3 attempts for safe methods; 10 s per attempt; a 30 s deadline).
 *
 * @since 0.1.0
 */
import { ResilientHttpClient } from "@effect-resilience/platform"
import { Effect } from "effect"
import type { HttpAdapter } from "../scenarios/http.js"

/**
 * @since 0.1.0
 * @category adapters
 */
export const adapter: HttpAdapter = {
  label: "ours `ResilientHttpClient` (defaults) around it",
  make: (plain) =>
    Effect.map(
      ResilientHttpClient.make({ name: "bench-http", client: plain }),
      (client) => (url) => Effect.flatMap(client.get(url), (response) => response.text)
    )
}
