import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import type { N8nCredential } from './credentials.js'
import type { N8nInstall } from './install.js'
import { run, tail } from './run.js'

/**
 * Drives a throwaway n8n: its own user folder (so its own sqlite database), the CLI to import
 * and activate, then `n8n start`. The environment is the one verified in the notes.
 */

export interface N8nHome {
  install: N8nInstall
  userFolder: string
  port: number
  env: NodeJS.ProcessEnv
  /** aborted when the check is interrupted: CLI commands still running are killed */
  signal: AbortSignal
}

export function n8nHome(install: N8nInstall, userFolder: string, port: number, signal: AbortSignal): N8nHome {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    N8N_USER_FOLDER: userFolder,
    N8N_PORT: String(port),
    N8N_LISTEN_ADDRESS: '127.0.0.1',
    N8N_HOST: '127.0.0.1',
    // isolated-vm (the default engine) is not built by the --ignore-scripts install
    N8N_EXPRESSION_ENGINE: 'legacy',
    N8N_RUNNERS_ENABLED: 'false',
    // the CLI import encrypts credentials with this key; `start` must decrypt them with the same
    N8N_ENCRYPTION_KEY: 'afb-check-n8n-0123456789abcdef',
    N8N_DIAGNOSTICS_ENABLED: 'false',
    N8N_PERSONALIZATION_ENABLED: 'false',
    N8N_VERSION_NOTIFICATIONS_ENABLED: 'false',
    N8N_TEMPLATES_ENABLED: 'false',
    N8N_HIRING_BANNER_ENABLED: 'false',
    N8N_SECURE_COOKIE: 'false',
    N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS: 'false',
    N8N_LOG_LEVEL: 'info',
    // the check reads every execution back, the successful ones too
    EXECUTIONS_DATA_SAVE_ON_SUCCESS: 'all',
    EXECUTIONS_DATA_SAVE_ON_ERROR: 'all',
    DB_TYPE: 'sqlite',
  }
  return { install, userFolder, port, env, signal }
}

export function databaseFile(home: N8nHome): string {
  return path.join(home.userFolder, '.n8n', 'database.sqlite')
}

async function cli(home: N8nHome, args: string[]): Promise<void> {
  // SIGKILL: the CLI was seen surviving a Ctrl-C during its migrations, and its database is thrown away anyway
  const result = await run(process.execPath, [home.install.bin, ...args], { env: home.env, cwd: home.userFolder, timeoutMs: 120_000, signal: home.signal, killSignal: 'SIGKILL' })
  if (result.code !== 0) throw new Error(`n8n ${args.join(' ')} failed (exit ${result.code}):\n${tail(result.output)}`)
}

/**
 * Imports the credentials and the workflows, then activates them all. Order matters: import
 * deactivates (even a re-import), and `start` only reads the activation it finds at boot.
 */
export async function importAndActivate(home: N8nHome, credentials: N8nCredential[], workflows: unknown[]): Promise<void> {
  const credentialsFile = path.join(home.userFolder, 'credentials.json')
  const workflowsFile = path.join(home.userFolder, 'workflows.json')
  writeFileSync(credentialsFile, JSON.stringify(credentials))
  writeFileSync(workflowsFile, JSON.stringify(workflows))
  await cli(home, ['import:credentials', `--input=${credentialsFile}`])
  await cli(home, ['import:workflow', `--input=${workflowsFile}`])
  await cli(home, ['update:workflow', '--all', '--active=true'])
}

export interface RunningN8n {
  baseUrl: string
  /** resolves once every workflow is activated; rejects if n8n exits first or takes too long */
  ready: Promise<void>
  /** everything n8n printed so far */
  log(): string
  stop(): Promise<void>
}

/** n8n prints this after it has activated every workflow; /healthz answers several seconds earlier, before the webhooks exist. */
const READY_LINE = 'Editor is now accessible via:'

/** Spawns `n8n start` and hands back its handle at once, so the caller can register the stop before waiting. */
export function startN8n(home: N8nHome, timeoutMs = 120_000): RunningN8n {
  const child: ChildProcess = spawn(process.execPath, [home.install.bin, 'start'], { env: home.env, cwd: home.userFolder, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  let exited = false
  child.on('exit', () => (exited = true))
  const stop = () =>
    new Promise<void>((resolve) => {
      if (exited || child.exitCode !== null) return resolve()
      // SIGTERM lets n8n finish and close its database (≈2–3 s); SIGKILL if it hangs
      const force = setTimeout(() => child.kill('SIGKILL'), 15_000)
      child.once('exit', () => {
        clearTimeout(force)
        resolve()
      })
      child.kill('SIGTERM')
    })
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`n8n did not get ready within ${timeoutMs / 1000} s:\n${tail(output)}`)), timeoutMs)
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8')
      if (output.includes(READY_LINE)) {
        clearTimeout(timer)
        resolve()
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`n8n exited (code ${code}, signal ${signal}) before it was ready:\n${tail(output)}`))
    })
  })
  return { baseUrl: `http://127.0.0.1:${home.port}`, ready, log: () => output, stop }
}

/** The workflows n8n says it activated at start-up, by id. */
export function activatedIds(log: string): Set<string> {
  return new Set([...log.matchAll(/Activated workflow ".*" \(ID: ([^)]+)\)/g)].map((m) => m[1] as string))
}
