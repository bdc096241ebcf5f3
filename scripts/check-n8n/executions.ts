import { createRequire } from 'node:module'
import path from 'node:path'
import Database from 'better-sqlite3'

/**
 * Reads n8n's own record of a run straight from its sqlite database (no API key or owner
 * account needed). A failed run still answers the webhook with 200 and an empty body, so this
 * record is where the real outcome — and the failing node's error — is found.
 */

interface NodeRun {
  error?: { message?: string; description?: string }
  data?: { main?: ({ json: unknown }[] | null)[] }
}

interface RunData {
  resultData?: {
    error?: { message?: string; description?: string; node?: { name?: string } }
    lastNodeExecuted?: string
    runData?: Record<string, NodeRun[]>
  }
}

export interface Execution {
  id: number
  status: string
  lastNode: string | undefined
  /** the workflow's error, if it failed, with the node that raised it */
  error: string | undefined
  /** items each node put out (all outputs, all runs) */
  items: Record<string, number>
}

const FINISHED = ['success', 'error', 'crashed', 'canceled']

/** flatted is how n8n stores run data; we use n8n's own copy of it. */
function flattedParse(installDir: string): (text: string) => unknown {
  const requireFromN8n = createRequire(path.join(installDir, 'package.json'))
  return (requireFromN8n('flatted') as { parse(text: string): unknown }).parse
}

function describe(row: { id: number; status: string; data: string }, parse: (text: string) => unknown): Execution {
  const result = (parse(row.data) as RunData).resultData ?? {}
  const items: Record<string, number> = {}
  const nodeErrors: string[] = []
  for (const [node, runs] of Object.entries(result.runData ?? {})) {
    items[node] = runs.reduce((n, r) => n + (r.data?.main ?? []).reduce((m, out) => m + (out?.length ?? 0), 0), 0)
    for (const r of runs) if (r.error) nodeErrors.push(`node "${node}": ${r.error.message ?? 'error'}${r.error.description ? ` — ${r.error.description}` : ''}`)
  }
  const top = result.error
  const error = top ? `${top.node?.name ? `node "${top.node.name}": ` : ''}${top.message ?? 'error'}${top.description ? ` — ${top.description}` : ''}` : nodeErrors[0]
  return { id: row.id, status: row.status, lastNode: result.lastNodeExecuted, error, items }
}

/** The newest finished execution of a workflow after `afterId`, waiting for n8n to save it. */
export async function waitForExecution(databaseFile: string, installDir: string, workflowId: string, afterId: number, timeoutMs = 15_000): Promise<Execution | undefined> {
  const parse = flattedParse(installDir)
  const deadline = Date.now() + timeoutMs
  let seen: Execution | undefined
  for (;;) {
    const db = new Database(databaseFile, { readonly: true, fileMustExist: true })
    try {
      const row = db
        .prepare(
          `SELECT e.id AS id, e.status AS status, d.data AS data FROM execution_entity e JOIN execution_data d ON d.executionId = e.id
           WHERE e.workflowId = ? AND e.id > ? ORDER BY e.id DESC LIMIT 1`,
        )
        .get(workflowId, afterId) as { id: number; status: string; data: string } | undefined
      // n8n writes the status and the run data separately: a finished status can show before the data does
      if (row && FINISHED.includes(row.status)) seen = describe(row, parse)
      if (seen?.lastNode !== undefined) return seen
    } finally {
      db.close()
    }
    if (Date.now() > deadline) return seen
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
}

/** The highest execution id so far, so the next lookup only sees runs started after it. */
export function lastExecutionId(databaseFile: string): number {
  const db = new Database(databaseFile, { readonly: true, fileMustExist: true })
  try {
    return (db.prepare('SELECT COALESCE(MAX(id), 0) AS id FROM execution_entity').get() as { id: number }).id
  } finally {
    db.close()
  }
}
