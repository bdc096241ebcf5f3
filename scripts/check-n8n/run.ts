import { spawn } from 'node:child_process'

export interface RunResult {
  code: number | null
  /** stdout and stderr interleaved, as a person would have seen them */
  output: string
  seconds: number
}

export interface RunOptions {
  cwd?: string
  env?: NodeJS.ProcessEnv
  timeoutMs?: number
  /** kills the command when aborted (the check is being interrupted) */
  signal?: AbortSignal
  killSignal?: NodeJS.Signals
}

/** Runs a command to completion and captures its output; never throws for a non-zero exit, only when aborted. */
export function run(command: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: options.signal,
      killSignal: options.killSignal ?? 'SIGTERM',
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')))
    const timer = options.timeoutMs
      ? setTimeout(() => {
          output += `\n[check-n8n] killed after ${options.timeoutMs} ms`
          child.kill('SIGKILL')
        }, options.timeoutMs)
      : undefined
    child.on('error', reject)
    child.on('close', (code) => {
      if (timer) clearTimeout(timer)
      resolve({ code, output, seconds: (Date.now() - started) / 1000 })
    })
  })
}

/** The last lines of a long output: enough to see why something failed without flooding the terminal. */
export function tail(text: string, lines = 25): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n')
}
