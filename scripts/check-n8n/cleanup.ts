/**
 * Everything the check starts (n8n, postgres, stubs, temp dirs) registers how to undo it here,
 * so a failure at any point still leaves the machine as it was. Undo runs in reverse order:
 * n8n stops before the databases and doubles it talks to.
 */
export class Cleanup {
  private readonly tasks: { name: string; undo: () => unknown }[] = []
  private running: Promise<void> | undefined
  private readonly aborter = new AbortController()

  /** Aborted when cleanup starts: commands still running (npm, n8n's CLI) are killed with it. */
  get signal(): AbortSignal {
    return this.aborter.signal
  }

  add(name: string, undo: () => unknown): void {
    this.tasks.push({ name, undo })
  }

  /** Idempotent: a signal arriving while the normal path is already cleaning up waits for it. */
  run(): Promise<void> {
    this.running ??= (async () => {
      this.aborter.abort()
      for (const { name, undo } of this.tasks.reverse()) {
        // the timer also keeps the event loop alive: an undo waiting on a dead socket would
        // otherwise let node exit right there, skipping the rest
        let timer: NodeJS.Timeout | undefined
        const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('gave up after 30 s')), 30_000)))
        try {
          await Promise.race([Promise.resolve().then(undo), timeout])
        } catch (err) {
          // keep going: one stuck resource must not leave the others running
          console.error(`cleanup: ${name}: ${(err as Error).message}`)
        } finally {
          clearTimeout(timer)
        }
      }
    })()
    return this.running
  }
}
