// opossum ships no types: the little of it the bench uses.
declare module "opossum" {
  export default class CircuitBreaker<Args extends Array<unknown> = Array<unknown>, R = unknown> {
    constructor(action: (...args: Args) => Promise<R>, options?: Record<string, unknown>)
    fire(...args: Args): Promise<R>
    shutdown(): void
    readonly opened: boolean
  }
}
