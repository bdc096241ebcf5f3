import { spawn, type ChildProcess } from 'node:child_process'
import http from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The folder holding package.json: the child runs `src/server.ts` from there. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

const START_TIMEOUT_MS = 20_000
const STOP_TIMEOUT_MS = 15_000
const LISTENING = 'Server listening at '

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface RunningServer {
  /** e.g. http://127.0.0.1:40123 */
  url: string
  port: number
  /** DATA_DIR the child was started with */
  dataDir: string
  child: ChildProcess
  /** everything the child wrote to stdout so far (pino JSON lines) */
  logs(): string
  /** everything the child wrote to stderr so far */
  stderr(): string
  /** sends `signal` (SIGTERM by default) and resolves with how the process ended; SIGKILLs after 15 s */
  stop(signal?: NodeJS.Signals): Promise<Exit>
  /** resolves once the process has ended, however it ended */
  exited: Promise<Exit>
}

/** The child ended (or hung) before it was listening; carries everything it printed. */
export class ServerStartError extends Error {
  override name = 'ServerStartError'
  constructor(
    message: string,
    readonly exit: Exit | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`${message}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`)
  }
}

const children = new Set<ChildProcess>()
const ownedDirs = new Set<string>()

export function tempDir(prefix = 'afb-e2e-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix))
  ownedDirs.add(dir)
  return dir
}

/**
 * Kills (SIGKILL) every child still running and removes every temp folder made by this helper.
 * Meant for afterEach/afterAll.
 */
export async function cleanupServers(): Promise<void> {
  const waiting = [...children].map(async (child) => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((resolve) => child.once('close', () => resolve()))
      child.kill('SIGKILL')
      await gone
    }
    children.delete(child)
  })
  await Promise.all(waiting)
  for (const dir of ownedDirs) rmSync(dir, { recursive: true, force: true })
  ownedDirs.clear()
}

/**
 * Spawns the real service (`node --import tsx src/server.ts`) on port 0 and resolves once it logs
 * "Server listening at …". Rejects with a ServerStartError — holding the exit and the output —
 * when the process ends first or does not listen within 20 s.
 */
export function startServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const dataDir = env.DATA_DIR ?? tempDir()
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: PROJECT_ROOT,
    // grouping off unless a test turns it on: most tests expect a new workflow per POST /issues
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', DATA_DIR: dataDir, GROUP_WINDOW: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)

  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8')
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => {
    stderr += chunk
  })

  const exited = new Promise<Exit>((resolve) => {
    // 'close' rather than 'exit': by then stdout and stderr have been read to the end
    child.once('close', (code, signal) => {
      children.delete(child)
      resolve({ code, signal })
    })
  })

  return new Promise<RunningServer>((resolve, reject) => {
    let pending = ''
    let settled = false
    const fail = (message: string, exit: Exit | null) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      reject(new ServerStartError(message, exit, stdout, stderr))
    }
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      fail(`server did not log "${LISTENING}…" within ${START_TIMEOUT_MS} ms`, null)
    }, START_TIMEOUT_MS)

    void exited.then((exit) => fail(`server exited before listening (code ${exit.code}, signal ${exit.signal})`, exit))

    child.stdout.on('data', (chunk: string) => {
      stdout += chunk
      if (settled) return
      pending += chunk
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) {
        let msg: unknown
        try {
          msg = (JSON.parse(line) as { msg?: unknown }).msg
        } catch {
          continue // not a pino line
        }
        if (typeof msg !== 'string' || !msg.startsWith(LISTENING)) continue
        const url = msg.slice(LISTENING.length).trim()
        settled = true
        clearTimeout(timer)
        resolve({
          url,
          port: Number(new URL(url).port),
          dataDir,
          child,
          exited,
          logs: () => stdout,
          stderr: () => stderr,
          stop: (signal = 'SIGTERM') => stop(child, exited, signal, () => stdout, () => stderr),
        })
        return
      }
    })
  })
}

async function stop(child: ChildProcess, exited: Promise<Exit>, signal: NodeJS.Signals, out: () => string, err: () => string): Promise<Exit> {
  if (child.exitCode !== null || child.signalCode !== null) return exited
  child.kill(signal)
  let timer: NodeJS.Timeout | undefined
  const hung = new Promise<'hung'>((resolve) => {
    timer = setTimeout(() => resolve('hung'), STOP_TIMEOUT_MS)
  })
  const result = await Promise.race([exited, hung])
  clearTimeout(timer)
  if (result !== 'hung') return result
  child.kill('SIGKILL')
  await exited
  throw new Error(`server did not exit within ${STOP_TIMEOUT_MS} ms of ${signal}\n--- stdout ---\n${out()}\n--- stderr ---\n${err()}`)
}

export interface Answer {
  status: number
  headers: http.IncomingHttpHeaders
  text: string
}

/** One request on its own connection (no keep-alive): a crash shows up as a socket error. */
export function send(base: string, method: string, urlPath: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      new URL(urlPath, base),
      { method, agent: false, headers: { connection: 'close', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers } },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          text += chunk
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }))
        res.on('error', reject)
      },
    )
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out')))
    req.on('error', reject)
    req.end(body)
  })
}
