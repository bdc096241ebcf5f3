import { execFile } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { projectRoot } from '../src/config.js'
import { loadPlatformMappings, PLATFORMS } from '../src/exports/mapping.js'
import { generate } from '../src/generate/generate.js'
import { loadPlaybooks } from '../src/playbooks/load.js'
import { tempDir } from './helpers/app.js'

const run = promisify(execFile)
const ROOT = projectRoot()
const playbooks = loadPlaybooks(path.join(ROOT, 'templates'))
const exports = { formats: PLATFORMS, mappings: loadPlatformMappings(path.join(ROOT, 'templates'), playbooks) }
const NOW = new Date('2026-01-19T10:00:00.000Z')

/** A fake target repository: the generated files at their real paths, vitest reachable via node_modules. */
function writeRepository(dir: string): void {
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir')
  writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }\n')
  let n = 0
  for (const playbook of playbooks.values()) {
    const opportunity = {
      issue_type: playbook.issueType,
      severity: 'medium' as const,
      description: 'generated-test check',
      metric_value: 0.5,
      affected_items: ['a'],
      timestamp: NOW.toISOString(),
      feature_suggestion: null,
      source: null,
    }
    const id = `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`
    for (const file of generate(opportunity, playbook, id, NOW, exports).files) {
      mkdirSync(path.join(dir, path.dirname(file.path)), { recursive: true })
      writeFileSync(path.join(dir, file.path), file.content)
    }
  }
}

/** Runs vitest as a real child process in the fake repository; resolves with its exit code and output. */
async function vitestIn(dir: string, testFile?: string): Promise<{ code: number; output: string }> {
  const args = [path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--root', dir, ...(testFile ? [testFile] : [])]
  try {
    const { stdout, stderr } = await run(process.execPath, args, { cwd: dir, env: { ...process.env, CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0' } })
    return { code: 0, output: stdout + stderr }
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string }
    return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` }
  }
}

function editJson(file: string, edit: (value: Record<string, unknown>) => void): void {
  const value = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
  edit(value)
  writeFileSync(file, JSON.stringify(value, null, 2))
}

describe('the generated vitest file', () => {
  let dir: string
  beforeAll(() => {
    dir = tempDir('afb-generated-')
    writeRepository(dir)
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  it('when run by vitest on what we generate, then every playbook’s test passes', async () => {
    const result = await vitestIn(dir)
    const n = playbooks.size
    expect(result.output).toMatch(new RegExp(`Test Files\\s+${n} passed \\(${n}\\)`))
    expect(result.code).toBe(0)
  })

  it('when a step is removed from the workflow, then it fails', async () => {
    editJson(path.join(dir, 'workflows/high_churn_workflow.json'), (w) => {
      ;(w.steps as unknown[]).pop()
    })
    const result = await vitestIn(dir, 'tests/high_churn_workflow.test.ts')
    expect(result.code).not.toBe(0)
    expect(result.output).toMatch(/has its 5 steps/)
  })

  it('when the template uses a variable it does not declare, then it fails', async () => {
    editJson(path.join(dir, 'workflows/abandoned_carts_prompt_templates.json'), (p) => {
      p.template = `${String(p.template)} Mention {{coupon_code}}.`
    })
    const result = await vitestIn(dir, 'tests/abandoned_carts_workflow.test.ts')
    expect(result.code).not.toBe(0)
    expect(result.output).toMatch(/declares every template variable it uses/)
  })

  it('when a success target lies outside 0..1, then it fails', async () => {
    editJson(path.join(dir, 'workflows/low_conversion_workflow.json'), (w) => {
      w.success_metrics = { conversion_lift_target: 15 }
    })
    const result = await vitestIn(dir, 'tests/low_conversion_workflow.test.ts')
    expect(result.code).not.toBe(0)
    expect(result.output).toMatch(/keeps every success target between 0 and 1/)
  })

  it('when an n8n expression names a node that does not exist, then it fails', async () => {
    const file = path.join(dir, 'workflows/revenue_drop_n8n.json')
    const text = readFileSync(file, 'utf8')
    expect(text).toContain('$(\\"Settings\\")')
    writeFileSync(file, text.replace('$(\\"Settings\\")', '$(\\"Config\\")'))
    const result = await vitestIn(dir, 'tests/revenue_drop_workflow.test.ts')
    expect(result.code).not.toBe(0)
    expect(result.output).toMatch(/connects and references only nodes that exist/)
  })

  it('when a credential is pasted into the n8n export, then it fails', async () => {
    editJson(path.join(dir, 'workflows/payment_failures_n8n.json'), (w) => {
      ;(w.nodes as Record<string, unknown>[])[2]!.credentials = { postgres: { id: '1', name: 'prod' } }
    })
    const result = await vitestIn(dir, 'tests/payment_failures_workflow.test.ts')
    expect(result.code).not.toBe(0)
    expect(result.output).toMatch(/embeds no credentials/)
  })

  it('when a Make module maps from a module that runs later, then it fails', async () => {
    editJson(path.join(dir, 'workflows/error_spike_make_blueprint.json'), (b) => {
      const flow = b.flow as { mapper: Record<string, unknown> | null }[]
      flow[2]!.mapper = { ...flow[2]!.mapper, url: '{{9.data.url}}' }
    })
    const result = await vitestIn(dir, 'tests/error_spike_workflow.test.ts')
    expect(result.code).not.toBe(0)
    expect(result.output).toMatch(/maps only from modules that run earlier/)
  })
}, 120_000)
