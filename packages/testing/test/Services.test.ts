import { Services } from "@effect-resilience/testing"
import { describe, expect, it } from "@effect/vitest"
import { Redis } from "ioredis"
import pg from "pg"

const postgres = await Services.postgres()
const redis = await Services.redis()

describe.skipIf(!postgres.available)("PostgreSQL round-trip", () => {
  it("answers SELECT 1 on loopback", async () => {
    const client = new pg.Client({
      connectionString: postgres.url,
      application_name: Services.uniquePrefix("roundtrip")
    })
    await client.connect()
    try {
      const result = await client.query<{ one: number }>("SELECT 1::int AS one")
      expect(result.rows).toEqual([{ one: 1 }])
    } finally {
      await client.end()
    }
  })
})

describe.skipIf(!redis.available)("Redis round-trip", () => {
  it("sets and reads back a key with a unique prefix", async () => {
    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 })
    await client.connect()
    const key = `${Services.uniquePrefix("roundtrip")}:k`
    try {
      await client.set(key, "v", "PX", 10_000)
      expect(await client.get(key)).toBe("v")
    } finally {
      await client.del(key)
      client.disconnect()
    }
  })
})

describe("Services.probe", () => {
  it("reports a closed loopback port as unreachable, with the reason", async () => {
    // Port 1 on loopback is closed on any sane machine.
    const reason = await Services.probe("127.0.0.1", 1, 1_000)
    expect(reason).toMatch(/127\.0\.0\.1:1/)
  })
})
