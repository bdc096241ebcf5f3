/**
 * Everything the check starts (n8n, postgres, stubs, temp dirs) registers how to undo it here,
 * so a failure at any point still leaves the machine as it was. Undo runs in reverse order:
 * n8n stops before the databases and doubles it talks to.
 */
export class Cleanup {
  private readonly tasks: { name: string; undo: () => unknown }[] = []
  private running: Promise<void> | undefined

  add(name: string, undo: () => unknown): void {
    this.tasks.push({ name, undo })
  }

  /** Idempotent: a signal arriving while the normal path is already cleaning up waits for it. */
  run(): Promise<void> {
    this.running ??= (async () => {
      for (const { name, undo } of this.tasks.reverse()) {
        try {
          await undo()
        } catch (err) {
          // keep going: one stuck resource must not leave the others running
          console.error(`cleanup: ${name}: ${(err as Error).message}`)
        }
      }
    })()
    return this.running
  }
}
